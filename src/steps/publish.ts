// The publishing writes of pipeline steps: a staging folder per write step, a local target replaced by two
// renames, an s3:// target replaced by putting the files then deleting the rest of its prefix.
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, relative, sep } from 'node:path'
import { WriteError } from '../errors.js'
import { replacePrefix, type ObjectStore, type Part } from '../store/object-store.js'
import type { Plan } from './plan.js'

/** An empty staging folder per write step: next to a local target (so that a rename replaces it), in tmp for S3. */
export async function stagingFolders(plan: Plan, tmp: string): Promise<Map<number, string>> {
  const out = new Map<number, string>()
  for (const s of plan.steps) {
    if (s.kind !== 'write') continue
    const target = s.target!
    let dir: string
    if (target.startsWith('s3://')) dir = join(tmp, `write-${s.index}`)
    else {
      await removeLeftovers(target)
      dir = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
    }
    await mkdir(dir, { recursive: true })
    out.set(s.index, dir)
  }
  return out
}

/** Staging and old folders of a target left by a run that crashed. */
async function removeLeftovers(target: string): Promise<void> {
  const parent = dirname(target)
  const prefix = `.${basename(target)}.`
  let names: string[]
  try {
    names = await readdir(parent)
  } catch {
    return
  }
  for (const n of names)
    if (n.startsWith(prefix) && /\.(tmp|old)-\d+-[0-9a-f]{8}$/.test(n))
      await rm(join(parent, n), { recursive: true, force: true })
}

/** Replaces a local folder by the staging folder with two renames; the old content is deleted after. */
export async function replaceFolder(staging: string, target: string): Promise<void> {
  const old = join(dirname(target), `.${basename(target)}.old-${process.pid}-${randomBytes(4).toString('hex')}`)
  let moved = false
  try {
    await rename(target, old)
    moved = true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw writeFailed(target, err)
  }
  try {
    await rename(staging, target)
  } catch (err) {
    if (moved) await rename(old, target).catch(() => undefined)
    throw writeFailed(target, err)
  }
  if (moved) await rm(old, { recursive: true, force: true })
}

/** Uploads every file of `dir` under the store's root, then deletes every other object there. Closes the store. */
export async function publishToStore(dir: string, store: ObjectStore, signal?: AbortSignal): Promise<void> {
  try {
    async function* parts(): AsyncIterable<Part> {
      for (const f of await filesUnder(dir))
        yield { key: relative(dir, f).split(sep).join('/'), body: await readFile(f) }
    }
    await replacePrefix(store, '', parts(), signal ? { signal } : {})
  } finally {
    await store.close()
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await filesUnder(p)))
    else out.push(p)
  }
  return out.sort()
}

function writeFailed(target: string, err: unknown): WriteError {
  return new WriteError('CDC_WRITE_FAILED', `replacing ${JSON.stringify(target)} failed: ${(err as Error).message}`, {
    cause: err,
    transient: true,
    hint: 'check free disk space and write permission on the output folder; the previous output is still in place',
  })
}
