
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
def parse_csv(text):
    """RFC 4180 records of a whole object: [(fields, line)], an unquoted empty field is None, "" is ''."""
    out = []
    n = len(text)
    i = 0
    line = 1
    while i < n:
        start_line = line
        fields = []
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
                    raise CdcError('CDC_CSV_MALFORMED', 'line %d: unexpected text after a closing quote' % line)
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
        out.append((fields, start_line))
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


def csv_rows(table, meta, data, columns):
    """One object's change rows: (Op, *columns, cdc_file, cdc_row), plus its MD5 and row count."""
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
        records = parse_csv(text)
    except CdcError as e:
        raise CdcError(e.code, 'table %s: %s: %s' % (table['label'], where, str(e)[len(e.code) + 2:]))
    layout = table['columns']
    if meta['kind'] == 'cdc':
        for v in table['columnsFrom']:
            if v['file'] <= meta['stem']:
                layout = v['columns']
    index = {c['name']: i for i, c in enumerate(layout)}
    has_op = meta['kind'] == 'cdc' or table['includeOpForFullLoad']
    width = len(layout) + (1 if has_op else 0)
    picks = [(index.get(c['name']), c['type']) for c in columns]
    rows = []
    for row, (fields, line) in enumerate(records, 1):
        if has_op:
            op = fields[0]
            if op not in ('I', 'U', 'D'):
                raise CdcError('CDC_ROW_INVALID_OP', 'table %s: %s:%d: Op is %s; expected I, U or D' % (table['label'], where, line, json.dumps(op)))
        else:
            op = 'I'
        if len(fields) != width:
            raise CdcError('CDC_CSV_FIELD_COUNT', 'table %s: %s:%d has %d fields; expected %d' % (table['label'], where, line, len(fields), width))
        off = 1 if has_op else 0
        out = [op]
        for at, kind in picks:
            if at is None:
                out.append(None)
                continue
            s = fields[at + off]
            if s is None:
                out.append(None)
                continue
            try:
                out.append(convert(kind, s))
            except ValueError as e:
                raise CdcError('CDC_VALUE_INVALID', 'table %s: %s:%d: column %s is %s; expected %s' % (table['label'], where, line, json.dumps(layout[at]['name']), json.dumps(s), e))
        out.append(meta['name'])
        out.append(row)
        rows.append(tuple(out))
    return md5, rows


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


# ---------------------------------------------------------------- Spark
from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402


def spark_type(kind):
    if kind.startswith('decimal'):
        p, s = [int(x) for x in kind[8:-1].split(',')]
        return T.DecimalType(p, s)
    return {'string': T.StringType(), 'integer': T.LongType(), 'double': T.DoubleType(), 'boolean': T.BooleanType(),
            'date': T.DateType(), 'timestamp': T.TimestampNTZType()}[kind]


NUMERIC = (T.LongType, T.IntegerType, T.ShortType, T.ByteType)


def key_part(c, dt):
    """A key column's value as cdc-apply's key text (src/batch.ts keyPart of columnValues)."""
    if isinstance(dt, T.StringType):
        return c
    if isinstance(dt, (T.DoubleType, T.FloatType)):
        return F.when((c == F.floor(c)) & (F.abs(c) < 1e21), c.cast('long').cast('string')).otherwise(c.cast('string'))
    if isinstance(dt, T.DateType):
        return F.datediff(c, F.lit('1970-01-01').cast('date')).cast('string')
    if isinstance(dt, (T.TimestampType, T.TimestampNTZType)):
        return F.unix_micros(c.cast('timestamp')).cast('string')
    return c.cast('string')


def order_type(dt):
    return T.StringType() if isinstance(dt, (T.StringType, T.DecimalType)) else T.DoubleType()


def order_value(c, dt):
    """An ordering column's value as cdc-apply compares it: text for strings and decimals, else a 64-bit float."""
    if isinstance(dt, (T.StringType, T.DecimalType)):
        return c.cast('string')
    if isinstance(dt, T.BooleanType):
        return F.when(c.isNull(), F.lit(None)).when(c, F.lit(1.0)).otherwise(F.lit(0.0))
    if isinstance(dt, T.DateType):
        return F.datediff(c, F.lit('1970-01-01').cast('date')).cast('double')
    if isinstance(dt, (T.TimestampType, T.TimestampNTZType)):
        return F.unix_micros(c.cast('timestamp')).cast('double')
    return c.cast('double')


def key_expr(cols, types):
    parts = [key_part(F.col(n), types[n]) for n in cols]
    if len(parts) == 1:
        return parts[0]
    esc = [F.regexp_replace(F.regexp_replace(p, '\u0000', '\u0000\u0000'), '\u0001', '\u0000\u0001') for p in parts]
    return F.concat_ws('\u0001', *esc)


def fk_expr(c):
    stem = F.substring_index(c, '.', 1)
    return F.concat(F.when(stem.startswith('LOAD'), F.lit('0:')).otherwise(F.lit('1:')), stem)


class Lake:
    """The driver's view of the file systems (Hadoop FileSystem: file:, s3a:, s3: on EMR)."""

    def __init__(self, spark):
        self.spark = spark
        self.jvm = spark._jvm
        self.conf = spark._jsc.hadoopConfiguration()

    def fs(self, url):
        p = self.jvm.org.apache.hadoop.fs.Path(url)
        fs = p.getFileSystem(self.conf)
        if fs.getScheme() == 'file':
            fs.setWriteChecksum(False)
        return fs, p

    def exists(self, url):
        fs, p = self.fs(url)
        return fs.exists(p)

    def qualified(self, url):
        fs, p = self.fs(url)
        return fs.makeQualified(p).toString()

    def list(self, url):
        fs, p = self.fs(url)
        if not fs.exists(p):
            return None
        out = []
        it = fs.listFiles(p, True)
        while it.hasNext():
            st = it.next()
            size = st.getLen()
            mtime = st.getModificationTime()
            etag = None
            for getter in ('getEtag', 'getETag'):
                try:
                    etag = getattr(st, getter)()
                    break
                except Exception:
                    pass
            if etag is None or fs.getScheme() == 'file':
                etag = '%d-%d' % (size, mtime)
            out.append((st.getPath().toString(), size, mtime, str(etag).replace('"', '')))
        return out

    def children(self, url):
        fs, p = self.fs(url)
        if not fs.exists(p):
            return []
        return [(s.getPath().toString(), s.getPath().getName(), s.isDirectory()) for s in fs.listStatus(p)]

    def read_text(self, url):
        fs, p = self.fs(url)
        if not fs.exists(p):
            return None
        stream = fs.open(p)
        try:
            return self.jvm.org.apache.commons.io.IOUtils.toString(stream, 'UTF-8')
        finally:
            stream.close()

    def write_text(self, url, text):
        fs, p = self.fs(url)
        atomic = fs.getScheme() not in ('s3a', 's3', 's3n')
        target = self.jvm.org.apache.hadoop.fs.Path(p.getParent(), '.' + p.getName() + '.tmp-' + uuid.uuid4().hex) if atomic else p
        out = fs.create(target, True)
        out.write(bytearray(text.encode('utf-8')))
        out.close()
        if atomic:
            fs.delete(p, False)
            fs.rename(target, p)

    def delete(self, url):
        fs, p = self.fs(url)
        fs.delete(p, True)

    def rename(self, a, b):
        fs, pa = self.fs(a)
        _, pb = self.fs(b)
        if not fs.rename(pa, pb):
            raise CdcError('CDC_WRITE_FAILED', 'could not rename %s to %s' % (a, b), 4)


class Job:
    def __init__(self, spark, args):
        self.spark = spark
        self.sc = spark.sparkContext
        self.lake = Lake(spark)
        self.args = args
        self.landing = fix_scheme(args.landing, args.s3_scheme)
        self.raw = fix_scheme(args.raw, args.s3_scheme)
        self.curated = fix_scheme(args.curated, args.s3_scheme)
        self.state = fix_scheme(args.state, args.s3_scheme)
        self.log = []

    def say(self, table, msg, **fields):
        line = dict(fields, table=table, msg=msg)
        self.log.append(line)
        print(json.dumps(line), file=sys.stderr)


def fix_scheme(url, scheme):
    if scheme and re.match(r'^s3[an]?://', url):
        return scheme + '://' + url.split('://', 1)[1]
    return url.rstrip('/')


INTERNAL = ['_op', '_key', '_ts', '_seq', '_fk']


class TableRun:
    def __init__(self, job, t):
        self.job = job
        self.spark = job.spark
        self.t = t
        self.label = t['label']
        self.schema = []  # [(name, DataType)], grows with the files read (schema drift)
        if t['format'] == 'csv':
            seen = set()
            for c in t['columns'] + [c for v in t['columnsFrom'] for c in v['columns']]:
                if c['name'] not in seen:
                    seen.add(c['name'])
                    self.schema.append((c['name'], spark_type(c['type'])))
        self.info = {}  # stem -> {checksum, rows, inserts, updates, deletes}
        self.result = {'table': self.label, 'status': 'unchanged', 'rawDates': [], 'curatedDates': []}

    # ---- locations
    def part(self, root, date):
        return '%s/%s/%s/%s' % (root, self.t['source'], self.t['name'], date)

    def state_dir(self):
        return '%s/%s/%s' % (self.job.state, self.t['source'], self.t['name'])

    # ---- schema
    def types(self):
        return dict(self.schema)

    def merge(self, fields, where, strict):
        for name, dt in fields:
            known = self.types().get(name)
            if known is None:
                self.schema.append((name, dt))
            elif strict and known.simpleString() != dt.simpleString():
                raise CdcError('CDC_SCHEMA_MISMATCH', 'table %s: column %s is %s in %s but %s in earlier files' % (self.label, json.dumps(name), dt.simpleString(), where, known.simpleString()))

    def order_dt(self, name):
        return order_type(self.types()[name]) if name else T.DoubleType()

    # ---- reading
    def read(self, files):
        """The change rows of these objects: Op, the table's columns, cdc_file, cdc_row and the ordering columns."""
        if not files:
            return None
        df = self.read_csv(files) if self.t['format'] == 'csv' else self.read_parquet(files)
        return self.internals(df)

    def read_csv(self, files):
        t = self.t
        columns = [{'name': n, 'type': kind} for n, kind in self.csv_kinds()]
        metas = dict((f['name'], f) for f in files)
        schema = T.StructType([T.StructField('Op', T.StringType())] + [T.StructField(n, dt) for n, dt in self.schema] + [T.StructField('cdc_file', T.StringType()), T.StructField('cdc_row', T.LongType())])

        def parse(kv):
            name = kv[0][kv[0].rfind('/') + 1:]
            meta = metas[name]
            md5, rows = csv_rows(t, meta, bytes(kv[1]), columns)
            return meta['stem'], md5, rows

        parsed = self.job.sc.binaryFiles(','.join(f['url'] for f in files), max(1, min(len(files), 64))).map(parse).persist()
        for stem, md5, rows in parsed.map(lambda x: (x[0], x[1], [r[0] for r in x[2]])).collect():
            self.info[stem] = {'checksum': md5, 'rows': len(rows), 'inserts': rows.count('I'), 'updates': rows.count('U'), 'deletes': rows.count('D')}
        return self.spark.createDataFrame(parsed.flatMap(lambda x: x[2]), schema)

    def csv_kinds(self):
        kinds = {}
        for c in self.t['columns'] + [c for v in self.t['columnsFrom'] for c in v['columns']]:
            kinds.setdefault(c['name'], c['type'])
        return [(n, kinds.get(n, 'string')) for n, _ in self.schema]

    def read_parquet(self, files):
        t = self.t
        opc = t['opColumn']
        out = []
        for f in files:
            df = self.spark.read.parquet(f['url'])
            fields = [(x.name, x.dataType) for x in df.schema.fields if x.name != opc]
            if t['columns']:
                names = [c['name'] for c in t['columns']]
                have = dict(fields)
                for n in names:
                    if n not in have:
                        raise CdcError('CDC_PARQUET_COLUMN_MISSING', 'table %s: %s has no column %s' % (self.label, f['key'], json.dumps(n)))
                fields = [(n, have[n]) for n in names]
            self.merge(fields, f['key'], True)
            if opc in df.columns:
                op = F.col(opc).cast('string')
            elif f['kind'] == 'load':
                op = F.lit('I')
            else:
                raise CdcError('CDC_PARQUET_COLUMN_MISSING', 'table %s: change file %s has no Op column %s' % (self.label, f['key'], json.dumps(opc)))
            sel = df.select([op.alias('Op')] + [F.col(n) for n, _ in fields] + [F.lit(f['name']).alias('cdc_file'), (F.col('_metadata.row_index') + 1).cast('long').alias('cdc_row')])
            bad = sel.filter(F.col('Op').isNull() | ~F.col('Op').isin('I', 'U', 'D')).select('Op', 'cdc_row').limit(1).collect()
            if bad:
                raise CdcError('CDC_ROW_INVALID_OP', 'table %s: %s row %d: Op is %s; expected I, U or D' % (self.label, f['key'], bad[0][1], json.dumps(bad[0][0])))
            counts = dict((r[0], r[1]) for r in sel.groupBy('Op').count().collect())
            md5 = self.job.sc.binaryFiles(f['url']).map(lambda kv: hashlib.md5(bytes(kv[1])).hexdigest()).collect()[0]
            self.info[f['stem']] = {'checksum': md5, 'rows': sum(counts.values()), 'inserts': counts.get('I', 0), 'updates': counts.get('U', 0), 'deletes': counts.get('D', 0)}
            out.append(sel)
        df = out[0]
        for x in out[1:]:
            df = df.unionByName(x, allowMissingColumns=True)
        return df

    def project(self, df, extra):
        have = set(df.columns)
        return df.select([(F.col(n).cast(dt) if n in have else F.lit(None).cast(dt)).alias(n) for n, dt in self.schema] + [F.col(x) for x in extra])

    def internals(self, df):
        """Adds _op, _key, _ts, _seq, _fk; refuses NULL keys and NaN ordering values (as cdc-apply does)."""
        t = self.t
        df = self.project(df, ['Op', 'cdc_file', 'cdc_row'])
        types = self.types()
        for n in t['primaryKey']:
            if n not in types:
                raise CdcError('CDC_PK_MISSING', 'table %s: primary-key column %s is not a column of the files' % (self.label, json.dumps(n)))
        anynull = F.lit(False)
        for n in t['primaryKey']:
            anynull = anynull | F.col(n).isNull()
        nullkey = df.filter(anynull).select('cdc_file', 'cdc_row').limit(1).collect()
        if nullkey:
            raise CdcError('CDC_PK_MISSING', 'table %s: a primary-key column is NULL in %s row %d; expected a value' % (self.label, nullkey[0][0], nullkey[0][1]))
        for col, what in ((t['timestampColumn'], 'timestampColumn'), (t['sequenceColumn'], 'sequenceColumn')):
            if col and isinstance(types[col], (T.DoubleType, T.FloatType)):
                nan = df.filter(F.isnan(F.col(col))).select('cdc_file', 'cdc_row').limit(1).collect()
                if nan:
                    raise CdcError('CDC_VALUE_INVALID', 'table %s: ordering column %s is NaN in %s row %d' % (self.label, json.dumps(col), nan[0][0], nan[0][1]))
        ts = order_value(F.col(t['timestampColumn']), types[t['timestampColumn']]) if t['timestampColumn'] else F.lit(None).cast('double')
        seq = order_value(F.col(t['sequenceColumn']), types[t['sequenceColumn']]) if t['sequenceColumn'] else F.lit(None).cast('double')
        return df.withColumn('_op', F.col('Op')).withColumn('_key', key_expr(t['primaryKey'], types)).withColumn('_ts', ts).withColumn('_seq', seq).withColumn('_fk', fk_expr(F.col('cdc_file')))

    # ---- applying
    def moves(self, df):
        """Primary-key updates with before-image columns: the old key is deleted at the same point of the order."""
        bi = self.t['beforeImageColumns']
        if not bi:
            return None
        types = self.types()
        cols = [bi[k] for k in self.t['primaryKey']]
        old = key_expr(cols, types)
        cond = F.col('_op') == 'U'
        for c in cols:
            cond = cond & F.col(c).isNotNull()
        m = df.filter(cond)
        m = m.withColumn('_old', old).filter(F.col('_old') != F.col('_key'))
        return m.select(F.col('_old').alias('_key'), F.lit('D').alias('_op'), '_ts', '_seq', '_fk', 'cdc_row')

    def apply(self, state, changes):
        """The winner of every key over the state (live rows and tombstones) and the changes: a checkpointed frame."""
        parts = [x for x in (state, changes, self.moves(changes) if changes is not None else None) if x is not None]
        if not parts:
            return None
        df = parts[0]
        for x in parts[1:]:
            df = df.unionByName(x, allowMissingColumns=True)
        w = Window.partitionBy('_key').orderBy(F.col('_ts').desc_nulls_last(), F.col('_seq').desc_nulls_last(), F.col('_fk').desc(), F.col('cdc_row').desc())
        win = df.withColumn('_rn', F.row_number().over(w)).filter(F.col('_rn') == 1).drop('_rn', 'Op')
        return self.project(win, ['cdc_file', 'cdc_row'] + INTERNAL).localCheckpoint(eager=True)

    def tombstone_frame(self, df):
        return df.filter(F.col('_op') == 'D').select('_key', '_ts', '_seq', '_fk', 'cdc_row')

    def live(self, win):
        if win is None:
            return self.empty_curated()
        return win.filter(F.col('_op') != 'D')

    def empty_curated(self):
        return self.spark.createDataFrame([], T.StructType([T.StructField(n, dt) for n, dt in self.schema] + [T.StructField('cdc_file', T.StringType()), T.StructField('cdc_row', T.LongType())]))

    # ---- writing (the layout of src/write.ts: <root>/<Source>/<TableName>/<YYYYMMDD>/part-00000.parquet ...)
    def write_partition(self, df, dest):
        lake = self.job.lake
        n = df.count()
        files = max(1, -(-n // self.job.args.rows_per_file))
        tmp = dest + '/.spark-' + uuid.uuid4().hex
        df.repartition(files).write.mode('overwrite').option('compression', self.job.args.compression).parquet(tmp)
        parts = sorted(name for _, name, d in lake.children(tmp) if name.startswith('part-') and name.endswith('.parquet'))
        if not parts:  # an empty frame: Spark wrote no file; one empty part keeps the partition readable
            self.spark.createDataFrame([], df.schema).coalesce(1).write.mode('overwrite').parquet(tmp)
            parts = sorted(name for _, name, d in lake.children(tmp) if name.startswith('part-') and name.endswith('.parquet'))
        for i, name in enumerate(parts):
            target = '%s/part-%05d.parquet' % (dest, i)
            if lake.exists(target):
                lake.delete(target)
            lake.rename(tmp + '/' + name, target)
        for url, name, d in lake.children(dest):
            m = re.match(r'^part-(\d{5})\.parquet$', name)
            if (m and int(m.group(1)) >= len(parts)) or name.endswith('.crc'):
                lake.delete(url)
        lake.delete(tmp)

    def write_raw(self, date, changes):
        cols = ['Op'] + [n for n, _ in self.schema] + ['cdc_file', 'cdc_row']
        self.write_partition(self.project(changes, ['Op', 'cdc_file', 'cdc_row']).select(cols), self.part(self.job.raw, date))
        self.result['rawDates'].append(date)

    def write_curated(self, date, win):
        cols = [n for n, _ in self.schema] + ['cdc_file', 'cdc_row']
        self.write_partition(self.project(self.live(win), ['cdc_file', 'cdc_row']).select(cols), self.part(self.job.curated, date))
        self.result['curatedDates'].append(date)

    # ---- state: <state>/<Source>/<TableName>/watermark.json and the tombstones folder it names
    def read_state(self):
        text = self.job.lake.read_text(self.state_dir() + '/watermark.json')
        if text is None:
            return None
        s = json.loads(text)
        self.prev_tombs = s.get('tombstones')
        if s.get('format') != STATE_FORMAT:
            raise CdcError('CDC_HANDOVER_INVALID', 'table %s: %s/watermark.json is format %s; this job reads format %d' % (self.label, self.state_dir(), s.get('format'), STATE_FORMAT), 4)
        return s

    def tombstone_schema(self):
        t = self.t
        return T.StructType([T.StructField('key', T.StringType()), T.StructField('ts', self.order_dt(t['timestampColumn'])), T.StructField('seq', self.order_dt(t['sequenceColumn'])),
                             T.StructField('file', T.StringType()), T.StructField('row', T.LongType())])

    def read_tombstones(self, st):
        if not st or not st.get('tombstones'):
            return None
        url = self.state_dir() + '/' + st['tombstones']
        if not self.job.lake.exists(url):
            raise CdcError('CDC_HANDOVER_INVALID', 'table %s: the tombstones %s named by watermark.json are missing' % (self.label, url), 4)
        df = self.spark.read.schema(self.tombstone_schema()).json(url)
        return df.select(F.col('key').alias('_key'), F.lit('D').alias('_op'), F.col('ts').alias('_ts'), F.col('seq').alias('_seq'), F.col('file').alias('_fk'), F.col('row').alias('cdc_row'))

    def commit(self, wm, ledger, win, date, newest_date):
        lake = self.job.lake
        name = 'tombstones-' + uuid.uuid4().hex
        url = self.state_dir() + '/' + name
        tombs = self.tombstone_frame(win) if win is not None else self.spark.createDataFrame([], T.StructType([T.StructField(x, T.StringType()) for x in ('_key', '_ts', '_seq', '_fk')] + [T.StructField('cdc_row', T.LongType())]))
        tombs.select(F.col('_key').alias('key'), F.col('_ts').alias('ts'), F.col('_seq').alias('seq'), F.col('_fk').alias('file'), F.col('cdc_row').alias('row')).coalesce(1).write.mode('overwrite').option('ignoreNullFields', 'false').json(url)
        for u, n, d in lake.children(url):
            if not (n.startswith('part-') and n.endswith('.json')):
                lake.delete(u)
        old = getattr(self, 'prev_tombs', None)
        st = {'format': STATE_FORMAT, 'source': self.t['source'], 'table': self.t['name'], 'fullLoad': wm['fullLoad'], 'lpf': wm['lpf'], 'loadDate': wm['loadDate'],
              'tombstones': name, 'ledger': sorted(ledger.values(), key=lambda e: e['file']), 'committedAt': now_iso(), 'writer': 'spark-job'}
        lake.write_text(self.state_dir() + '/watermark.json', json.dumps(st, indent=1) + '\n')
        self.state = st
        self.prev_tombs = name
        if old and old != name:
            lake.delete(self.state_dir() + '/' + old)
        self.result['status'] = 'ok'
        self.result['fullLoad'] = wm['fullLoad']
        self.result['lpf'] = wm['lpf']
        self.job.say(self.label, 'watermark moved', fullLoad=wm['fullLoad'], lpf=wm['lpf'])
        over = newest_date is not None and newest_date > date
        through = date if over else add_days(date, -1)
        marker = {'format': 1, 'version': CONFIG['version'], 'source': self.t['source'], 'table': self.t['name'], 'lpf': wm['lpf'], 'fullLoad': wm['fullLoad'], 'loadDate': wm['loadDate'],
                  'latestDate': date, 'completeThrough': through if through >= wm['loadDate'] else None, 'committedAt': now_iso()}
        lake.write_text('%s/%s/%s/_cdc_apply.json' % (self.job.curated, self.t['source'], self.t['name']), json.dumps(marker, indent=2) + '\n')

    def entry(self, f):
        i = self.info.get(f['stem'], {})
        return {'file': f['stem'], 'key': f['key'], 'date': f['date'], 'size': f['size'], 'etag': f['etag'], 'checksum': i.get('checksum', ''), 'rows': i.get('rows', 0),
                'inserts': i.get('inserts', 0), 'updates': i.get('updates', 0), 'deletes': i.get('deletes', 0), 'superseded': False}

    # ---- restoring (src/run.ts restore, restoreCommitted)
    def restore(self, date, lpf=None):
        url = self.part(self.job.curated, date)
        if not self.job.lake.exists(url):
            raise CdcError('CDC_SNAPSHOT_MISSING', 'table %s: the curated snapshot of %s (the watermark\'s date) is missing from %s' % (self.label, date, self.job.curated))
        snap = self.spark.read.parquet(url)
        self.merge([(x.name, x.dataType) for x in snap.schema.fields if x.name not in ('cdc_file', 'cdc_row')], url, False)
        snap = self.internals(snap.withColumn('Op', F.lit('U'))).drop('Op')
        ahead = False
        if lpf is not None:
            ahead = snap.filter(~F.col('cdc_file').startswith('LOAD') & (F.substring_index(F.col('cdc_file'), '.', 1) > F.lit(lpf))).limit(1).count() > 0
        tombs = self.read_tombstones(self.state)
        if tombs is not None:
            tombs = tombs.join(snap.select('_key'), '_key', 'left_anti')
        return self.apply(snap if tombs is None else snap.unionByName(tombs, allowMissingColumns=True), None), ahead


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def union(*frames):
    frames = [f for f in frames if f is not None]
    if not frames:
        return None
    df = frames[0]
    for x in frames[1:]:
        df = df.unionByName(x, allowMissingColumns=True)
    return df


def discover(job, t):
    """The table's DMS objects, classified and ordered (src/discover.ts), or None when the folder does not exist."""
    root = job.landing + '/' + t['path']
    listed = job.lake.list(root)
    if listed is None:
        return None
    base = job.lake.qualified(job.landing)
    loads, cdcs, seen = [], [], {}
    now_ms = time.time() * 1000
    for url, size, mtime, etag in listed:
        key = url[len(base) + 1:] if url.startswith(base + '/') else url
        f = parse_name(key, t)
        if f is None:
            job.say(t['label'], 'object skipped: not a DMS data file', object=key)
            continue
        if f['kind'] == 'load' and key != t['path'] + '/' + f['name']:
            job.say(t['label'], 'object skipped: not a DMS data file', object=key)
            continue
        if f['stem'] in seen:
            raise CdcError('CDC_FILE_NAME_INVALID', 'table %s: objects %s and %s carry the same DMS name %s' % (t['label'], json.dumps(seen[f['stem']]), json.dumps(key), f['stem']))
        if f['kind'] == 'cdc':
            s = f['stem']
            at = datetime.datetime(int(s[0:4]), int(s[4:6]), int(s[6:8]), int(s[9:11]), int(s[11:13]), min(int(s[13:15]), 59), int(s[15:18]) * 1000, tzinfo=datetime.timezone.utc).timestamp() * 1000
            if at - now_ms > CONFIG['maxFutureSeconds'] * 1000:
                raise CdcError('CDC_FILE_NAME_INVALID', 'table %s: object %s is named %s, ahead of the clock by more than maxFutureSeconds' % (t['label'], json.dumps(key), s))
        seen[f['stem']] = key
        f.update(url=url, size=size, mtime=mtime, etag=etag)
        (loads if f['kind'] == 'load' else cdcs).append(f)
    loads.sort(key=lambda f: f['order'])
    cdcs.sort(key=lambda f: f['order'])
    return loads, cdcs


def load_date(run, loads, load_df, cdcs):
    t = run.t
    if not loads:
        return cdcs[0]['date']
    ts = t['timestampColumn']
    if ts:
        dt = run.types()[ts]
        c = F.col(ts)
        expr = None
        if isinstance(dt, T.StringType):
            expr = F.when(c.rlike('^[0-9]{4}-[0-9]{2}-[0-9]{2}'), F.concat(F.substring(c, 1, 4), F.substring(c, 6, 2), F.substring(c, 9, 2)))
        elif isinstance(dt, (T.DateType, T.TimestampType, T.TimestampNTZType)):
            expr = F.date_format(c.cast('timestamp') if isinstance(dt, T.TimestampNTZType) else c, 'yyyyMMdd')
        if expr is not None:
            best = load_df.filter(F.col('_fk').startswith('0:')).agg(F.max(expr)).collect()[0][0]
            if best is not None:
                return best
    return ms_date(max(f['mtime'] for f in loads))


def run_table(job, t):
    run = TableRun(job, t)
    label = run.label
    found = discover(job, t)
    if found is None or (not found[0] and not found[1]):
        run.state = run.read_state()
        if t['missingFolder'] == 'ignore':
            run.result['status'] = 'no-files'
            return run.result
        if run.state is not None or found is None:
            what = 'does not exist' if found is None else 'holds no DMS files'
            raise CdcError('CDC_TABLE_FOLDER_MISSING', 'table %s: table folder %s %s' % (label, json.dumps(t['path']), what), 6 if run.state is not None else 2)
        run.result['status'] = 'no-files'
        return run.result
    loads, cdcs = found
    wm = run.read_state()
    run.state = wm
    ledger = dict((e['file'], e) for e in wm['ledger']) if wm else {}
    if wm:
        cdcs = [f for f in cdcs if not ledger.get(f['stem'], {}).get('superseded')]
    if wm and wm['fullLoad']:
        def changed(f):
            known = ledger.get(f['stem'])
            if known is None:
                return True
            if known['etag'] == f['etag']:
                return False
            if known['size'] != f['size'] or not known.get('checksum'):
                return True
            return job.sc.binaryFiles(f['url']).map(lambda kv: hashlib.md5(bytes(kv[1])).hexdigest()).collect()[0] != known['checksum']
        reload = [f for f in loads if changed(f)]
        late = [f for f in cdcs if f['stem'] <= wm['lpf'] and changed(f)]
        if reload:
            if t['onReload'] == 'fail':
                raise CdcError('CDC_RELOAD_DETECTED', 'table %s: a new or rewritten full load (%s) arrived after the table was loaded; a DMS table reload' % (label, ', '.join(f['key'] for f in reload)))
            raise CdcError('CDC_SPARK_UNSUPPORTED', 'table %s: onReload "reset" is not done by the Spark job; run this table with cdc-apply' % label, 2)
        if late:
            if t['lateFiles'] == 'fail':
                raise CdcError('CDC_LATE_FILE', 'table %s: %d change file(s) at or before the last processed file %s arrived late or changed: %s' % (label, len(late), wm['lpf'], ', '.join(f['key'] for f in late)))
            job.say(label, 'late files: reprocessing the table from its full load')
            wm = None
            ledger = {}
    if wm and not wm['fullLoad']:
        live = [e for e in wm['ledger'] if not e.get('superseded')]
        files = loads + cdcs
        by = dict((e['file'], e['etag']) for e in live)
        if len(files) == len(live) and all(by.get(f['stem']) == f['etag'] for f in files):
            return run.result
    cur = None
    newest = cdcs[-1]['date'] if cdcs else None
    if not wm or not wm['fullLoad']:
        load_df = run.read(loads)
        if not loads:
            job.say(label, 'no full-load files: starting from the first change file')
        ld = load_date(run, loads, load_df, cdcs)
        first = [f for f in cdcs if f['date'] <= ld]
        if wm:
            present = set(f['stem'] for f in loads + cdcs)
            gone = [e for e in wm['ledger'] if not e.get('superseded') and e['file'] not in present]
            if gone:
                raise CdcError('CDC_LANDING_BEHIND_WATERMARK', 'table %s: %d processed file(s) of the load date vanished from the landing (%s); the last processed file is %s' % (label, len(gone), ', '.join(e['key'] for e in gone), wm['lpf']), 6)
        changes = union(load_df, run.read(first))
        # a redo of the load date replaces the table's state: no earlier tombstones
        run.state = None
        cur = run.apply(None, changes)
        ledger = dict((f['stem'], run.entry(f)) for f in loads + first)
        later = any(f['date'] > ld for f in cdcs)
        wm = {'fullLoad': later, 'lpf': first[-1]['stem'] if first else ld + '-000000000', 'loadDate': ld}
        run.write_raw(ld, changes)
        run.write_curated(ld, cur)
        run.commit(wm, ledger, cur, ld, newest)
        if not later:
            return run.result
    return run_dates(run, wm, cur, loads, cdcs, ledger, newest)


def run_dates(run, wm, cur, loads, cdcs, ledger, newest):
    label = run.label
    ld = wm['loadDate']
    cdcs = [dict(f, date=ld) if f['date'] < ld else f for f in cdcs]
    mfd = cdcs[-1] if cdcs else None
    lpf = wm['lpf']
    lpf_date = max(lpf[:8], ld)
    if mfd is None or mfd['stem'] < lpf:
        if mfd is None and lpf.endswith('-000000000'):
            return run.result
        raise CdcError('CDC_LANDING_BEHIND_WATERMARK', 'table %s: the newest change file %s is older than the last processed file %s' % (label, mfd['stem'] if mfd else '(none)', lpf), 6)
    if mfd['stem'] == lpf:
        return run.result
    if cur is None:
        cur, ahead = run.restore(lpf_date, lpf)
        if ahead:
            run.job.say(label, 'curated snapshot is ahead of the watermark (a run stopped before its commit): rebuilding the date from the day before')
            if lpf_date <= ld:
                base = run.apply(run.read_tombstones(run.state), None)
            else:
                base, _ = run.restore(add_days(lpf_date, -1))
            committed = (loads if lpf_date == ld else []) + [f for f in cdcs if f['date'] == lpf_date and f['stem'] <= lpf]
            cur = run.apply(base, run.read(committed))
    fresh = [f for f in cdcs if f['stem'] > lpf]
    for date in date_range(lpf_date, mfd['date']):
        new = [f for f in fresh if f['date'] == date]
        if not new:
            if date != lpf_date:
                run.write_curated(date, cur)
            continue
        old = (loads if date == ld else []) + [f for f in cdcs if f['date'] == date and f['stem'] <= lpf]
        new_df = run.read(new)
        changes = union(run.read(old), new_df)
        cur = run.apply(cur, new_df)
        for f in new:
            ledger[f['stem']] = run.entry(f)
        wm = dict(wm, fullLoad=wm['fullLoad'] or date > ld, lpf=new[-1]['stem'])
        run.write_raw(date, changes)
        run.write_curated(date, cur)
        run.commit(wm, ledger, cur, date, newest)
    return run.result


# ---------------------------------------------------------------- entry point
def arguments(argv):
    d = CONFIG['defaults']
    p = argparse.ArgumentParser(description='cdc-apply as a PySpark job: applies DMS change files into RAW and curated Parquet with the cdc-apply semantics.')
    p.add_argument('--landing', default=d['landing'], help='DMS landing (default %(default)s)')
    p.add_argument('--raw', default=d['raw'], help='RAW output root (default %(default)s)')
    p.add_argument('--curated', default=d['curated'], help='curated output root (default %(default)s)')
    p.add_argument('--state', default=d['state'], help='where the watermark, ledger and tombstones live (default %(default)s); see cdc-apply state export|import')
    p.add_argument('--table', action='append', default=None, help='Source.TableName to process (repeatable; default: every table of the job)')
    p.add_argument('--s3-scheme', default=d['s3Scheme'], choices=['s3', 's3a', 's3n', ''], help='rewrite s3:// locations to this scheme (default %(default)s; s3 on EMR, s3a elsewhere)')
    p.add_argument('--rows-per-file', type=int, default=d['rowsPerFile'])
    p.add_argument('--compression', default=d['compression'])
    p.add_argument('--master', default=None, help='Spark master when the job makes its own session (e.g. local[2]); default: spark-submit\'s')
    return p.parse_known_args(argv)[0]


def session(args):
    from pyspark.sql import SparkSession
    b = SparkSession.builder.appName('cdc-apply-job')
    if args.master:
        b = b.master(args.master)
    b = b.config('spark.sql.session.timeZone', 'UTC').config('spark.sql.parquet.outputTimestampType', 'TIMESTAMP_MICROS')
    b = b.config('spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs', 'false').config('spark.sql.sources.partitionOverwriteMode', 'static')
    return b.getOrCreate()


def main(argv=None, spark=None):
    args = arguments(sys.argv[1:] if argv is None else argv)
    own = spark is None
    if own:
        spark = session(args)
    spark.conf.set('spark.sql.session.timeZone', 'UTC')
    spark.conf.set('spark.sql.parquet.outputTimestampType', 'TIMESTAMP_MICROS')
    spark.sparkContext._jsc.hadoopConfiguration().set('mapreduce.fileoutputcommitter.marksuccessfuljobs', 'false')
    job = Job(spark, args)
    tables = CONFIG['tables']
    if args.table:
        known = set(t['label'] for t in tables)
        for x in args.table:
            if x not in known:
                print('CDC_USAGE: table %s is not in this job (expected one of %s)' % (x, ', '.join(sorted(known))), file=sys.stderr)
                return EXIT['usage']
        tables = [t for t in tables if t['label'] in args.table]
    code = 0
    results = []
    for t in tables:
        try:
            r = run_table(job, t)
        except Exception as e:  # one table's failure does not stop the others
            err = e if isinstance(e, CdcError) else None
            if err is None:
                m = re.search(r'(CDC_[A-Z_]+): ([^\n]*)', str(e))
                err = CdcError(m.group(1), m.group(2), 3) if m else CdcError('CDC_INTERNAL', str(e).split('\n')[0], 1)
            r = {'table': t['label'], 'status': 'error', 'code': err.code, 'message': str(err), 'exitCode': err.exit_code}
            print(str(err), file=sys.stderr)
            code = max(code, err.exit_code)
        results.append(r)
        print(json.dumps(r))
    if own:
        spark.stop()
    return code


if __name__ == '__main__':
    sys.exit(main())
