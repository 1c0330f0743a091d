
# ---------------------------------------------------------------------------------------------------------------
# The apply. Everything below is the same for every emitted job; CONFIG above holds the tables and the defaults.
#
# How each record keeps its number: Spark's CSV reader splits files and loses record order, and cannot tell an
# empty unquoted field (NULL) from "" (the empty string). This job reads every DMS object whole
# (sparkContext.binaryFiles: one object per record, bounded by DMS's CdcMaxFileSize), gunzips it when its name ends
# in .gz, and parses it in the executors with the RFC 4180 parser below (parse_csv), which numbers records (not
# lines) from 1 and returns None for an empty unquoted field and '' for "". Parquet objects are read one by one with
# Spark's Parquet reader; their row number is the hidden column _metadata.row_index + 1.
#
# The order of changes is the cdc-apply chain: timestamp column, then sequence column (NULL lowest), then file (every
# LOAD file by its hex counter before every change file by name), then record number. Ordering values are compared
# as cdc-apply compares them: numbers, dates and timestamps as 64-bit floats, strings and decimals as text.
# ---------------------------------------------------------------------------------------------------------------
import argparse
import datetime
import gzip
import hashlib
import json
import re
import sys
import time
import uuid
from decimal import Context, Decimal

STATE_FORMAT = 1
EXIT = {'data': 3, 'usage': 2, 'unavailable': 4, 'behind': 6, 'internal': 1}


class CdcError(Exception):
    def __init__(self, code, message, exit_code=3):
        super().__init__(code + ': ' + message)
        self.code = code
        self.exit_code = exit_code


# ---------------------------------------------------------------- names (src/discover.ts)
LOAD_RE = re.compile(r'^LOAD([0-9A-F]{8})\.(csv|parquet)(\.gz)?$')
CDC_RE = re.compile(r'^(\d{8})-(\d{9})\.(csv|parquet)(\.gz)?$')
LOOKS_DMS_RE = re.compile(r'^(LOAD[0-9A-Fa-f]*|\d{8}-\d*)\.(csv|parquet)(\.gz)?$', re.I)


def valid_date(d):
    try:
        datetime.date(int(d[0:4]), int(d[4:6]), int(d[6:8]))
        return True
    except ValueError:
        return False


def valid_time(t):
    return int(t[0:2]) < 24 and int(t[2:4]) < 60 and int(t[4:6]) < 61


def file_key(stem):
    return ('0:' if stem.startswith('LOAD') else '1:') + stem


def parse_name(key, table):
    name = key[key.rfind('/') + 1:]
    m = LOAD_RE.match(name)
    kind = None
    if m:
        kind, stem, date, ext, gz = 'load', 'LOAD' + m.group(1), '', m.group(2), m.group(3) is not None
    else:
        m = CDC_RE.match(name)
        if m and valid_date(m.group(1)) and valid_time(m.group(2)):
            kind, stem, date, ext, gz = 'cdc', m.group(1) + '-' + m.group(2), m.group(1), m.group(3), m.group(4) is not None
    if kind is None:
        if LOOKS_DMS_RE.match(name):
            raise CdcError('CDC_FILE_NAME_INVALID', 'table %s: object %s looks like a DMS file but its name is malformed' % (table['label'], json.dumps(key)))
        return None
    if ext != table['format']:
        raise CdcError('CDC_FILE_NAME_INVALID', 'table %s: object %s is .%s but the table is configured with format %s' % (table['label'], json.dumps(key), ext, json.dumps(table['format'])))
    return {'key': key, 'name': name, 'stem': stem, 'kind': kind, 'date': date, 'gzip': gz, 'order': file_key(stem)}


# ---------------------------------------------------------------- CSV (src/read-csv.ts)
def skip_record(text, i, line):
    """After a rejected field: the end of the record from i, honouring quotes (src/read-csv.ts skipRecord)."""
    n = len(text)
    quoted = False
    while i < n:
        c = text[i]
        if quoted:
            if c == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 2
                else:
                    quoted = False
                    i += 1
                continue
            if c == '\n':
                line += 1
            i += 1
            continue
        if c == '"':
            quoted = True
        elif c == '\n' or (c == '\r' and i + 1 < n and text[i + 1] == '\n'):
            return i + (2 if c == '\r' else 1), line + 1
        i += 1
    if quoted:
        raise CdcError('CDC_CSV_UNTERMINATED_QUOTE', 'a quoted field is not closed before the end of the file (line %d)' % line)
    return i, line


def parse_csv(text, keep=False):
    """RFC 4180 records of a whole object: [(fields, line, text, bad)], an unquoted empty field is None, "" is ''.
    keep (onBadRow "quarantine"): each record's text is kept, and a record with text after a closing quote is not an
    error of the file: bad is (field index, message) and the record ends as cdc-apply's reader ends it."""
    out = []
    n = len(text)
    i = 0
    line = 1
    while i < n:
        start_line = line
        start = i
        fields = []
        bad = None
        while True:
            if i < n and text[i] == '"':
                i += 1
                buf = []
                while True:
                    j = text.find('"', i)
                    if j < 0:
                        raise CdcError('CDC_CSV_UNTERMINATED_QUOTE', 'a quoted field that starts on line %d is not closed' % start_line)
                    buf.append(text[i:j])
                    line += text.count('\n', i, j)
                    if j + 1 < n and text[j + 1] == '"':
                        buf.append('"')
                        i = j + 2
                        continue
                    i = j + 1
                    break
                value = ''.join(buf)
                if i < n and text[i] not in ',\n' and not (text[i] == '\r' and i + 1 < n and text[i + 1] == '\n'):
                    if not keep:
                        raise CdcError('CDC_CSV_MALFORMED', 'line %d: unexpected text after a closing quote' % line)
                    bad = (len(fields), 'expected a comma or the end of the line after the closing quote of field %d, got %s' % (len(fields) + 1, json.dumps(text[i], ensure_ascii=False)), line)
                    i, line = skip_record(text, i, line)
                    break
            else:
                j = i
                while j < n and text[j] != ',' and text[j] != '\n' and not (text[j] == '\r' and j + 1 < n and text[j + 1] == '\n'):
                    j += 1
                value = text[i:j] if j > i else None
                i = j
            fields.append(value)
            if i < n and text[i] == ',':
                i += 1
                continue
            if i < n and text[i] == '\r':
                i += 1
            if i < n and text[i] == '\n':
                i += 1
                line += 1
            break
        rec = None
        if keep:
            rec = text[start:i]
            rec = rec[:-2] if rec.endswith('\r\n') else rec[:-1] if rec.endswith('\n') else rec
        out.append((fields, start_line, rec, bad))
    return out


INT_RE = re.compile(r'^[+-]?\d+$')
DOUBLE_RE = re.compile(r'^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|inf)$|^NaN$', re.I)
DECIMAL_RE = re.compile(r'^([+-]?)(\d*)(?:\.(\d*))?$')
TS_RE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$')
DATE_RE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})$')


def convert(kind, s):
    """A CSV field's text as the column's type; raises ValueError with what was expected."""
    if kind == 'string':
        return s
    if kind == 'integer':
        if not INT_RE.match(s):
            raise ValueError('an integer')
        v = int(s)
        if v < -(2 ** 63) or v >= 2 ** 63:
            raise ValueError('an integer within the 64-bit range')
        return v
    if kind == 'double':
        if not DOUBLE_RE.match(s):
            raise ValueError('a number')
        low = s.lower()
        if low.endswith('inf') or low.endswith('infinity'):
            return float('-inf') if low.startswith('-') else float('inf')
        return float(s)
    if kind == 'boolean':
        low = s.lower()
        if low in ('true', 't', '1'):
            return True
        if low in ('false', 'f', '0'):
            return False
        raise ValueError('a boolean (true, false, t, f, 1 or 0)')
    if kind == 'date':
        m = DATE_RE.match(s)
        try:
            return datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except (AttributeError, ValueError):
            raise ValueError('a date YYYY-MM-DD')
    if kind == 'timestamp':
        m = TS_RE.match(s)
        try:
            frac = (m.group(7) or '')[:6].ljust(6, '0')
            if int(m.group(6)) > 59:
                raise ValueError()
            return datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6)), int(frac))
        except (AttributeError, ValueError):
            raise ValueError('a timestamp YYYY-MM-DD HH:MM:SS[.ffffff]')
    if kind.startswith('decimal'):
        p, sc = [int(x) for x in kind[8:-1].split(',')]
        m = DECIMAL_RE.match(s)
        expected = 'a decimal(%d,%d)' % (p, sc)
        if not m or (m.group(2) == '' and (m.group(3) or '') == ''):
            raise ValueError(expected)
        frac = (m.group(3) or '').rstrip('0')
        if len(frac) > sc:
            raise ValueError('%s (at most %d digits after the point)' % (expected, sc))
        digits = (m.group(2) + frac.ljust(sc, '0')).lstrip('0')
        if len(digits) > p:
            raise ValueError('%s (at most %d digits)' % (expected, p))
        return Decimal(m.group(1) + (m.group(2) or '0') + '.' + (m.group(3) or '0')).quantize(Decimal(1).scaleb(-sc), context=Context(prec=80))
    raise ValueError('a value of type ' + kind)


def csv_records(table, meta, data):
    """One object's MD5, its header (header: true) and its records."""
    md5 = hashlib.md5(data).hexdigest()
    where = meta['key']
    try:
        raw = gzip.decompress(data) if meta['gzip'] else data
    except Exception as e:
        raise CdcError('CDC_GZIP_INVALID', 'table %s: %s is not valid gzip: %s' % (table['label'], where, e))
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise CdcError('CDC_CSV_INVALID_UTF8', 'table %s: %s is not UTF-8 at byte %d' % (table['label'], where, e.start))
    if text.startswith('\ufeff'):
        text = text[1:]
    try:
        records = parse_csv(text, table.get('onBadRow') == 'quarantine')
    except CdcError as e:
        raise CdcError(e.code, 'table %s: %s: %s' % (table['label'], where, str(e)[len(e.code) + 2:]))
    header = None
    if table['header'] and records:
        if records[0][3] is not None:  # the header is never set aside
            raise CdcError('CDC_CSV_MALFORMED', 'table %s: %s in %s:%d' % (table['label'], records[0][3][1], where, records[0][3][2]))
        header = [x if x is not None else '' for x in records[0][0]]
        records = records[1:]
    return md5, header, records


def header_layout(table, meta, header, kinds):
    """The columns a header names (after Op), typed as configured, else as known, else string (src/read.ts)."""
    has_op = meta['kind'] == 'cdc' or table['includeOpForFullLoad']
    where = '%s:1' % meta['key']
    if header is None:
        return []
    if has_op and (not header or header[0] != table['opColumn']):
        raise CdcError('CDC_SCHEMA_MISMATCH', 'table %s: the header of %s starts with %s; expected the Op column %s' % (table['label'], where, json.dumps(header[0] if header else ''), json.dumps(table['opColumn'])))
    names = header[1:] if has_op else header
    seen = set()
    for n in names:
        if n == '' or n in seen or n in ('cdc_file', 'cdc_row') or n == table['opColumn']:
            raise CdcError('CDC_SCHEMA_MISMATCH', 'table %s: the header of %s names column %s, which is empty, repeated or reserved' % (table['label'], where, json.dumps(n)))
        seen.add(n)
    configured = dict((c['name'], c['type']) for c in table['columns'])
    return [{'name': n, 'type': configured.get(n) or kinds.get(n) or 'string'} for n in names]


def split_count(rec):
    """The number of fields of a record as cdc-apply's error path counts them (src/csv-shape.ts splitRecord)."""
    n = len(rec)
    i = 0
    count = 0
    while True:
        count += 1
        if i < n and rec[i] == '"':
            j = i + 1
            while j < n:
                if rec[j] == '"':
                    if j + 1 >= n or rec[j + 1] != '"':
                        break
                    j += 1
                j += 1
            i = j + 1
            while i < n and rec[i] not in ',\n\r':
                i += 1
        else:
            while i < n and rec[i] != ',' and rec[i] != '\n' and not (rec[i] == '\r' and i + 1 < n and rec[i + 1] == '\n'):
                i += 1
        if i < n and rec[i] == ',':
            i += 1
            continue
        return count


def utf8_cut(s, n):
    """The first n bytes of s as text, as cdc-apply cuts a value for a message (Buffer#toString of a byte range)."""
    b = s.encode('utf-8')
    return s if len(b) <= n else b[:n].decode('utf-8', 'replace')


def js_number(x):
    """A float as JavaScript's JSON.stringify writes it (NaN and infinities are null)."""
    if x != x or x in (float('inf'), float('-inf')):
        return 'null'
    if x == 0:
        return '0'
    sign, digits, exp = Decimal(repr(x)).as_tuple()
    ds = ''.join(str(d) for d in digits)
    while len(ds) > 1 and ds.endswith('0'):
        ds = ds[:-1]
        exp += 1
    k = len(ds)
    n = k + exp
    if k <= n <= 21:
        out = ds + '0' * (n - k)
    elif 0 < n <= 21:
        out = ds[:n] + '.' + ds[n:]
    elif -6 < n <= 0:
        out = '0.' + '0' * (-n) + ds
    else:
        out = ds[0] + ('.' + ds[1:] if k > 1 else '') + 'e' + ('+' if n - 1 >= 0 else '-') + str(abs(n - 1))
    return ('-' if sign else '') + out


EPOCH_DAY = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1)


def js_value(v, kind):
    """One value of a quarantined row's record as cdc-apply writes it (src/rejected.ts rowText: columnValues, bigints
    as strings). kind: the column's type name; 'int32' for the narrow integers of Parquet files."""
    if v is None:
        return 'null'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if kind == 'int32':
        return str(v)
    if isinstance(v, int):
        return json.dumps(str(v))
    if isinstance(v, float):
        return js_number(v)
    if isinstance(v, Decimal):
        t = format(v, 'f')
        return json.dumps(t[1:] if t.startswith('-') and v == 0 else t)
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return json.dumps(str((v - EPOCH) // datetime.timedelta(microseconds=1)))
    if isinstance(v, datetime.date):
        return str((v - EPOCH_DAY).days)
    return json.dumps(v if isinstance(v, str) else str(v), ensure_ascii=False)


def row_text(names, kinds, values):
    return '{' + ','.join(json.dumps(n, ensure_ascii=False) + ':' + js_value(v, k) for n, k, v in zip(names, kinds, values)) + '}'


def row_checks(table, types, names):
    """What cdc-apply's readers check after parsing (src/read.ts dropNullKeys): (index of each key column, the
    double ordering columns as (index, name))."""
    at = dict((n, i) for i, n in enumerate(names))
    keys = [(at[k], k) for k in table['primaryKey'] if k in at]
    nan = [(at[c], c) for c in (table['timestampColumn'], table['sequenceColumn']) if c and c in at and types[at[c]] in ('double', 'float')]
    return keys, nan


def csv_rows(table, meta, records, columns, layout=None, upto=None):
    """One object's change rows, (Op, *columns, cdc_file, cdc_row) in the columns' order, and the rows set aside under
    onBadRow "quarantine" (cdc_file, line, cdc_row, code, reason, record), checked in cdc-apply's order (src/read-csv.ts
    field by field, then src/read.ts: NULL keys and NaN ordering values) with its messages. upto: how many of the
    columns the table had when this file was read (the record of a set-aside row lists those)."""
    where = meta['key']
    label = table['label']
    quarantine = table.get('onBadRow') == 'quarantine'
    if layout is None:
        layout = table['columns']
    if meta['kind'] == 'cdc' and not table['header']:
        for v in table['columnsFrom']:
            if v['file'] <= meta['stem']:
                layout = v['columns']
    index = {c['name']: i for i, c in enumerate(layout)}
    has_op = meta['kind'] == 'cdc' or table['includeOpForFullLoad']
    off = 1 if has_op else 0
    width = len(layout) + off
    shape = '%s%d columns' % ('Op + ' if has_op else '', len(layout))
    picks = [index.get(c['name']) for c in columns]
    names = [c['name'] for c in columns]
    kinds = [c['type'] for c in columns]
    keys, nans = row_checks(table, kinds, names)
    seen = upto if upto is not None else len(columns)
    rows = []
    rejected = []
    for row, (fields, line, rec, bad) in enumerate(records, 1):
        try:
            nf = len(fields)
            stop = bad[0] if bad is not None else nf
            op = 'I'
            if has_op and stop > 0:
                op = fields[0]
                if op not in ('I', 'U', 'D'):
                    raise CdcError('CDC_ROW_INVALID_OP', 'table %s: unknown Op %s; expected I, U or D in %s:%d' % (label, json.dumps(utf8_cut(op or '', 20), ensure_ascii=False), where, line))
            vals = [None] * len(layout)
            for i in range(min(len(layout), stop - off)):
                s = fields[i + off]
                if s is None:
                    continue
                try:
                    vals[i] = convert(layout[i]['type'], s)
                except ValueError as e:
                    got = split_count(rec) if rec is not None else nf
                    if got != width:
                        raise CdcError('CDC_CSV_FIELD_COUNT', 'table %s: expected %d fields (%s), got %d; read as configured, column %s would get a value that is not %s in %s:%d' % (label, width, shape, got, json.dumps(layout[i]['name'], ensure_ascii=False), e, where, line))
                    raise CdcError('CDC_VALUE_INVALID', 'table %s: column %s value %s is not %s in %s:%d' % (label, json.dumps(layout[i]['name'], ensure_ascii=False), json.dumps(utf8_cut(s, 40), ensure_ascii=False), e, where, line))
            if bad is not None:
                raise CdcError('CDC_CSV_MALFORMED', 'table %s: %s in %s:%d' % (label, bad[1], where, bad[2]))
            if nf != width:
                raise CdcError('CDC_CSV_FIELD_COUNT', 'table %s: expected %d fields (%s), got %d in %s:%d' % (label, width, shape, nf, where, line))
        except CdcError as e:
            if not quarantine:
                raise
            rejected.append((meta['name'], line, -1, e.code, str(e)[len(e.code) + 2:], rec))
            continue
        out = [op] + [None if at is None else vals[at] for at in picks]
        why = None
        for at, n in nans:
            v = out[1 + at]
            if isinstance(v, float) and v != v:
                why = ('CDC_VALUE_INVALID', 'table %s: ordering column %s is NaN in %s:%d; expected a number (NaN has no place in the order of changes)' % (label, json.dumps(n, ensure_ascii=False), where, line))
                break
        for at, n in keys:
            if out[1 + at] is None:
                why = ('CDC_PK_MISSING', 'table %s: primary-key column %s is NULL in %s:%d; expected a value' % (label, json.dumps(n, ensure_ascii=False), where, line))
                break
        if why is not None and quarantine:
            rejected.append((meta['name'], line, -1, why[0], why[1], row_text(names[:seen], kinds[:seen], out[1:1 + seen])))
            continue
        out.append(meta['name'])
        out.append(row)
        rows.append(tuple(out))
    return rows, rejected


# ---------------------------------------------------------------- dates (src/dates.ts)
def add_days(d, n):
    x = datetime.date(int(d[0:4]), int(d[4:6]), int(d[6:8])) + datetime.timedelta(days=n)
    return x.strftime('%Y%m%d')


def date_range(a, b):
    out = []
    while a <= b:
        out.append(a)
        a = add_days(a, 1)
    return out


def ms_date(ms):
    return datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc).strftime('%Y%m%d')
