// Java's Iceberg (the Spark job) makes random 63-bit snapshot ids: metadata JSON and Avro manifests must keep them
// exact (a bigint beyond 2^53, a number below), or a commit by cdc-apply on such a table names snapshots that do not
// exist. The end-to-end case (the job's table continued by cdc-apply) is in test/spark-iceberg.test.ts.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseMetadata, stringifyMetadata, type TableMetadata } from '../src/iceberg/metadata.js'
import { decodeManifestList, encodeManifestList } from '../src/iceberg/avro.js'
import { manifestFile } from '../src/iceberg/summary.js'

const BIG = 9_123_456_789_012_345_678n

test('metadata JSON keeps integers beyond 2^53 exact, and leaves strings, fractions and safe integers alone', () => {
  const text = JSON.stringify(
    {
      'current-snapshot-id': 1,
      snapshots: [
        { 'snapshot-id': 1, summary: { note: 'id 12345678901234567890 in a string', n: '-99999999999999999' } },
      ],
      ratio: 0.1234567890123456,
      safe: 9007199254740991,
      neg: 1,
    },
    null,
    1,
  )
    .replace('"current-snapshot-id": 1', `"current-snapshot-id": ${BIG}`)
    .replace('"snapshot-id": 1', `"snapshot-id": ${BIG}`)
    .replace('"neg": 1', `"neg": -${BIG}`)
  const m = parseMetadata(text) as unknown as Record<string, unknown> & TableMetadata
  assert.equal(m['current-snapshot-id'], BIG)
  assert.equal(m.snapshots[0]!['snapshot-id'], BIG)
  assert.equal(m['current-snapshot-id'], m.snapshots[0]!['snapshot-id'], 'the same value compares equal')
  assert.equal(m['neg'], -BIG)
  assert.equal(m['safe'], 9007199254740991)
  assert.equal(m['ratio'], 0.1234567890123456)
  assert.deepEqual(m.snapshots[0]!.summary, { note: 'id 12345678901234567890 in a string', n: '-99999999999999999' })
  assert.equal(stringifyMetadata(m), text, 'written back as read')
})

test('Avro longs of a manifest list keep ids beyond 2^53 exact (avsc alone refuses them) and safe ones as numbers', async () => {
  const files = [
    manifestFile('s3://b/t/metadata/a-m0.avro', 100, 0, 1, 7, []),
    manifestFile('s3://b/t/metadata/b-m0.avro', 100, 0, 2, 7, []),
  ]
  files[1]!.added_snapshot_id = BIG
  const back = await decodeManifestList(await encodeManifestList(files, { 'format-version': '2' }))
  assert.deepEqual(
    back.map((f) => f.added_snapshot_id),
    [7, BIG],
  )
})
