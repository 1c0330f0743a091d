// deploy/terraform: the real terraform renders the box's systemd unit, IAM policy, config and user data from
// deploy/terraform/modules/render (the module the cdc-apply module calls), and they are checked against the docs:
// the unit equals the one in docs/operations.md, the policy the one in docs/config.md, the config is accepted by
// cdc-apply's own parser, and the user data writes exactly that unit and config. terraform is required when CI=true
// and skipped with a printed reason otherwise.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../src/config.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const TF = join(root, 'deploy', 'terraform')
const terraform = process.env['TERRAFORM_BIN'] || 'terraform'
const hasTerraform = spawnSync(terraform, ['version'], { encoding: 'utf8' }).status === 0
if (!hasTerraform && process.env['CI'] === 'true')
  throw new Error(`terraform is required in CI but "${terraform} version" fails`)
const skip = hasTerraform ? false : 'terraform is not installed: the deploy rendering tests are skipped'

/** The fenced block of `lang` that follows the first line containing `after` in a docs file. */
function docsBlock(file: string, after: string, lang: string): string {
  const text = readFileSync(join(root, 'docs', file), 'utf8')
  const at = text.indexOf(after)
  assert.ok(at >= 0, `docs/${file} has no "${after}"`)
  const open = text.indexOf('```' + lang + '\n', at)
  assert.ok(open >= 0, `docs/${file} has no ${lang} block after "${after}"`)
  const start = open + lang.length + 4
  return text.slice(start, text.indexOf('\n```', start) + 1)
}

const KMS = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'
const COLUMNS = [
  { name: 'dms_commit_ts', type: 'timestamp' },
  { name: 'id', type: 'integer' },
  { name: 'name' },
  { name: 'dms_change_seq' },
]
const TABLE = {
  name: 'customers',
  path: 'public/customers',
  includeOpForFullLoad: true,
  columns: COLUMNS,
  primaryKey: ['id'],
  timestampColumn: 'dms_commit_ts',
  sequenceColumn: 'dms_change_seq',
}
const TABLES = [TABLE]

interface Rendered {
  unit: string
  iam_policy: string
  config_json: string
  user_data: string
}

/** Applies a root that only calls modules/render with these inputs (no provider, no resources) and reads its outputs. */
function render(inputs: Record<string, unknown>): Rendered {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-apply-tf-'))
  try {
    const args = Object.entries(inputs)
      .map(([k, v]) => `  ${k} = ${JSON.stringify(v)}`)
      .join('\n')
    writeFileSync(
      join(dir, 'main.tf'),
      `module "r" {\n  source = ${JSON.stringify(join(TF, 'modules', 'render'))}\n${args}\n}\noutput "r" {\n  value = module.r\n}\n`,
    )
    writeFileSync(join(dir, 'cli.tfrc'), '')
    const env = { ...process.env, TF_CLI_CONFIG_FILE: join(dir, 'cli.tfrc'), TF_IN_AUTOMATION: '1', TF_INPUT: '0' }
    for (const cmd of [
      ['init', '-backend=false'],
      ['apply', '-auto-approve'],
    ]) {
      const r = spawnSync(terraform, cmd, { cwd: dir, env, encoding: 'utf8' })
      assert.equal(r.status, 0, `terraform ${cmd.join(' ')}: ${r.stderr}${r.stdout}`)
    }
    const out = spawnSync(terraform, ['output', '-json', 'r'], { cwd: dir, env, encoding: 'utf8' })
    assert.equal(out.status, 0, out.stderr)
    return JSON.parse(out.stdout) as Rendered
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const DOCS_INPUTS = {
  aws_region: 'eu-west-1',
  landing_bucket: 'acme-dms',
  landing_prefix: 'dms',
  lake_bucket: 'acme-lake',
  kms_key_arn: KMS,
  source_name: 'CRM',
  tables: TABLES,
  state_volume_id: 'vol-0123456789abcdef0',
  package_s3_uri: 's3://acme-artifacts/cdc-apply-0.1.0.tgz',
}

/** The body of the quoted heredoc `<<'MARK'` in a shell script. */
function heredoc(script: string, mark: string): string {
  const open = script.indexOf(`<<'${mark}'\n`)
  assert.ok(open >= 0, `no <<'${mark}' heredoc in the user data`)
  const start = open + mark.length + 5
  const end = script.indexOf(`\n${mark}\n`, start - 1)
  assert.ok(end >= 0, `heredoc ${mark} is not closed`)
  return script.slice(start, end + 1)
}

test(
  'the rendered unit, policy, config and user data agree with docs/operations.md, docs/config.md and the config parser',
  { skip },
  () => {
    const r = render(DOCS_INPUTS)
    assert.equal(
      r.unit,
      docsBlock('operations.md', 'Under systemd', 'ini'),
      'the unit in docs/operations.md differs from modules/render/templates/cdc-apply.service.tftpl',
    )
    const docsPolicy = JSON.parse(docsBlock('config.md', 'A least-privilege policy', 'json')) as {
      Statement: Array<{ Sid: string; Action: string | string[] }>
    }
    const glue = docsPolicy.Statement.find((s) => s.Sid === 'GlueCatalog')
    assert.ok(glue, 'docs/config.md has no GlueCatalog statement')
    assert.deepEqual(
      JSON.parse(r.iam_policy),
      { ...docsPolicy, Statement: docsPolicy.Statement.filter((s) => s !== glue) },
      'the policy in docs/config.md differs from modules/render/templates/iam-policy.json.tftpl',
    )
    const iamTf = readFileSync(join(root, 'deploy', 'terraform', 'modules', 'cdc-apply', 'iam.tf'), 'utf8')
    const tfGlue = /sid = "GlueCatalog"\s+#[^\n]*\n\s+actions = \[([^\]]*)\]/.exec(iamTf)
    assert.ok(tfGlue, 'iam.tf has no GlueCatalog statement')
    assert.deepEqual(
      [...tfGlue[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]),
      [glue.Action].flat(),
      'the Glue actions of iam.tf differ from docs/config.md',
    )

    const config = JSON.parse(r.config_json) as Record<string, unknown>
    assert.deepEqual(
      { landing: config['landing'], raw: config['raw'], curated: config['curated'], state: config['state'] },
      {
        landing: 's3://acme-dms/dms',
        raw: 's3://acme-lake/raw',
        curated: 's3://acme-lake/curated',
        state: '/var/lib/cdc-apply/state.sqlite',
      },
    )
    parseConfig(config, '/etc/cdc-apply') // throws a ConfigError when cdc-apply would refuse the box's config

    const ud = r.user_data
    assert.ok(ud.startsWith('#!/bin/bash\n'))
    assert.equal(heredoc(ud, 'CDC_APPLY_UNIT'), r.unit, 'the user data writes another unit')
    assert.equal(heredoc(ud, 'CDC_APPLY_CONFIG'), r.config_json + '\n', 'the user data writes another config')
    assert.match(ud, /^systemctl enable --now cdc-apply\.service$/m)
    assert.match(ud, /^PACKAGE_S3_URI="s3:\/\/acme-artifacts\/cdc-apply-0\.1\.0\.tgz"$/m)
    assert.match(ud, /^STATE_VOLUME_ID="vol-0123456789abcdef0"$/m)
    // the unit runs /opt/cdc-apply/bin/cdc-apply.js with /usr/bin/node: the user data must create both
    assert.match(ud, /^ln -sfn \/opt\/cdc-apply-npm\/lib\/node_modules\/cdc-apply \/opt\/cdc-apply$/m)
    assert.match(ud, /^ln -sfn \/opt\/node\/bin\/node \/usr\/bin\/node$/m)
    const bash = spawnSync('bash', ['-n'], { input: ud, encoding: 'utf8' })
    assert.equal(bash.status, 0, `the user data is not valid bash: ${bash.stderr}`)
  },
)

test('the box installs the Node 24 that CI tests (scripts/setup-node.sh)', { skip }, () => {
  const pinned = /^\s+NODE_VERSION="(24\.[0-9.]+)"/m.exec(
    readFileSync(join(root, 'scripts', 'setup-node.sh'), 'utf8'),
  )?.[1]
  assert.ok(pinned !== undefined, 'scripts/setup-node.sh pins no Node 24')
  const r = render(DOCS_INPUTS)
  assert.match(r.user_data, new RegExp(`^NODE_VERSION="${pinned.replaceAll('.', '\\.')}"$`, 'm'))
  const moduleDefault = /variable "node_version" \{[^}]*default\s*=\s*"([^"]+)"/.exec(
    readFileSync(join(TF, 'modules', 'cdc-apply', 'variables.tf'), 'utf8'),
  )?.[1]
  assert.equal(moduleDefault, pinned, 'modules/cdc-apply node_version default')
})

test('metrics open to a CIDR: the unit listens on all addresses and is otherwise the documented one', { skip }, () => {
  const local = render(DOCS_INPUTS).unit
  const open = render({ ...DOCS_INPUTS, metrics_host: '0.0.0.0' }).unit
  const flag = ' --metrics-port 9464 --metrics-host 0.0.0.0\n'
  assert.ok(open.includes(flag), open)
  assert.equal(open.replace(flag, ' --metrics-port 9464\n'), local)
})

test('a config the parser refuses is caught: a table without a primary key', { skip }, () => {
  const { primaryKey: _, ...noKey } = TABLE
  const r = render({ ...DOCS_INPUTS, tables: [noKey] })
  assert.throws(
    () => parseConfig(JSON.parse(r.config_json), '/etc/cdc-apply'),
    (e: Error & { code?: string }) => e.code === 'CDC_CONFIG_INVALID' && e.message.includes('primaryKey'),
  )
})
