# ---- part 2 of the job (assets/spark-job/): Spark helpers, keys and order values, the file systems


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


