// Arrow IPC stream → Parquet bytes with parquet-wasm: the one place that builds writer properties.
import * as pw from 'parquet-wasm'

export interface EncodeOptions {
  compression: 'snappy' | 'zstd' | 'gzip' | 'none'
  rowGroupSize: number
  /**
   * The columns written with dictionary encoding: the string columns (see dictionaryColumns). Dictionary encoding of
   * high-cardinality numbers (keys, amounts, row numbers) made writing ~3× slower for larger files.
   */
  dictionary: string[]
}

export interface EncodeJob extends EncodeOptions {
  ipc: Uint8Array
}

const CODECS = {
  snappy: pw.Compression.SNAPPY,
  zstd: pw.Compression.ZSTD,
  gzip: pw.Compression.GZIP,
  none: pw.Compression.UNCOMPRESSED,
}

export function encodeIpc(ipc: Uint8Array, opts: EncodeOptions): Uint8Array {
  // WriterProperties and the wasm Table are consumed by writeParquet: build fresh ones per file.
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(CODECS[opts.compression])
    .setMaxRowGroupSize(opts.rowGroupSize)
    .setCreatedBy('cdc-apply')
    .setDictionaryEnabled(false)
  for (const c of opts.dictionary) b = b.setColumnDictionaryEnabled(c, true)
  const props = b.build()
  const out = pw.writeParquet(pw.Table.fromIPCStream(ipc), props)
  // a buffer of its own, so that it can be transferred between threads
  return out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : out.slice()
}
