// The process lock of the state file: one cdc-apply per state file, a stale lock is taken over.
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { StateError } from '../errors.js'
import { prepared, type StateDb } from './open.js'

/** A lock from another host is stale when its heartbeat is older than this. */
const REMOTE_LOCK_STALE_MS = 120_000

interface LockRow {
  Token: string
  Pid: number
  Host: string
  HeartbeatAt: number
  Proc: string
}

/** Takes the lock for `token` or throws CDC_STATE_LOCKED. A lock whose process is gone is taken over. */
export function takeLock(db: StateDb, path: string, token: string): void {
  db.transaction(() => {
    const row = db.prepare('SELECT Token, Pid, Host, HeartbeatAt, Proc FROM process_lock WHERE Id = 1').get() as
      LockRow | undefined
    if (row && row.Token !== token && lockHeld(row)) {
      throw new StateError(
        'CDC_STATE_LOCKED',
        `state file ${JSON.stringify(path)} is in use by process ${row.Pid} on ${row.Host}`,
        {
          hint: 'only one cdc-apply may work on a state file; stop the other process or point this one at another state file',
        },
      )
    }
    db.prepare(
      'INSERT OR REPLACE INTO process_lock (Id, Token, Pid, Host, StartedAt, HeartbeatAt, Proc) VALUES (1, ?, ?, ?, ?, ?, ?)',
    ).run(token, process.pid, hostname(), new Date().toISOString(), Date.now(), processIdentity(process.pid) ?? '')
  }).immediate()
}

export function refreshLock(db: StateDb, token: string): void {
  prepared(db, 'UPDATE process_lock SET HeartbeatAt = ? WHERE Token = ?').run(Date.now(), token)
}

export function releaseLock(db: StateDb, token: string): void {
  db.prepare('DELETE FROM process_lock WHERE Token = ?').run(token)
}

/**
 * A process as `<boot id>:<start time in clock ticks since boot>` (Linux /proc), or undefined where that is not
 * available. Hostname + PID alone do not tell a live holder from a dead one: a container restarted in place gets the
 * same hostname and often the same PID (1) as the process that left the lock behind.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // field 22 (starttime); the 2nd field (comm) is in parentheses and may hold spaces
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    return boot !== '' && start !== undefined ? `${boot}:${start}` : undefined
  } catch {
    return undefined
  }
}

function lockHeld(row: { Pid: number; Host: string; HeartbeatAt: number; Proc?: string }): boolean {
  if (row.Host !== hostname()) return Date.now() - row.HeartbeatAt < REMOTE_LOCK_STALE_MS
  const ours = processIdentity(process.pid)
  if (row.Proc && ours !== undefined) {
    // Another boot: the holder died with it. Same boot: held only while that PID is still the same process.
    if (row.Proc.split(':')[0] !== ours.split(':')[0]) return false
    return processIdentity(row.Pid) === row.Proc
  }
  // a lock written by an earlier build (no identity), or no /proc: a live PID counts as the holder
  try {
    process.kill(row.Pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
