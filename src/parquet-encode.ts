// Arrow IPC stream → Parquet bytes with parquet-wasm: the one place that builds writer properties.
import * as pw from 'parquet-wasm'

export interface EncodeOptions {
  compression: 'snappy' | 'zstd' | 'gzip' | 'none'
  rowGroupSize: number
}

export interface EncodeJob extends EncodeOptions {
  ipc: Uint8Array
}

const CODECS = { snappy: pw.Compression.SNAPPY, zstd: pw.Compression.ZSTD, gzip: pw.Compression.GZIP, none: pw.Compression.UNCOMPRESSED }

export function encodeIpc(ipc: Uint8Array, opts: EncodeOptions): Uint8Array {
  // WriterProperties and the wasm Table are consumed by writeParquet: build fresh ones per file.
  const props = new pw.WriterPropertiesBuilder().setCompression(CODECS[opts.compression]).setMaxRowGroupSize(opts.rowGroupSize).setCreatedBy('cdc-apply').build()
  const out = pw.writeParquet(pw.Table.fromIPCStream(ipc), props)
  // a buffer of its own, so that it can be transferred between threads
  return out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : out.slice()
}
