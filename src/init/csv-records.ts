// A small RFC 4180 record splitter for init: samples of DMS files and information_schema exports. It keeps
// whether each field was quoted, because DMS writes NULL as an empty unquoted field.

export interface CsvField {
  text: string
  quoted: boolean
}

export interface CsvRecord {
  fields: CsvField[]
  /** 1-based physical line where the record starts. */
  line: number
}

/**
 * The first `max` complete records of `text`. A record cut off at the end of the text (a sample of a larger file)
 * is dropped unless `complete` says the text is the whole file.
 */
export function csvRecords(text: string, max = Infinity, complete = true): CsvRecord[] {
  const out: CsvRecord[] = []
  let i = 0
  let line = 1
  const n = text.length
  while (i < n && out.length < max) {
    const start = line
    const fields: CsvField[] = []
    let ended = false
    for (;;) {
      if (text[i] === '"') {
        let j = i + 1
        let value = ''
        for (;;) {
          if (j >= n)
            return complete ? [...out, { fields: [...fields, { text: value, quoted: true }], line: start }] : out
          const q = text.indexOf('"', j)
          if (q < 0) {
            j = n
            continue
          }
          const chunk = text.slice(j, q)
          for (const ch of chunk) if (ch === '\n') line++
          value += chunk
          if (text[q + 1] === '"') {
            value += '"'
            j = q + 2
            continue
          }
          j = q + 1
          break
        }
        fields.push({ text: value, quoted: true })
        i = j
      } else {
        let j = i
        while (j < n && text[j] !== ',' && text[j] !== '\n' && text[j] !== '\r') j++
        fields.push({ text: text.slice(i, j), quoted: false })
        i = j
      }
      if (text[i] === ',') {
        i++
        continue
      }
      if (text[i] === '\r') i++
      if (text[i] === '\n') {
        i++
        line++
        ended = true
      }
      break
    }
    if (!ended && i >= n && !complete) break
    out.push({ fields, line: start })
  }
  return out
}
