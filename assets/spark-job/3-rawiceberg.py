# ---- part 3 of the job (assets/spark-job/), before the table's run: RAW as an Iceberg table (src/raw-iceberg.ts)
#
# A table with tableFormat "iceberg" (unless iceberg.raw is false) has its RAW at <raw>/<Source>/<TableName>/: an
# Iceberg v2 table partitioned by identity(partition_0) (partition field id 1000), the date YYYYMMDD. The job reaches
# it through the Spark catalog <--iceberg-catalog>_raw: the settings of --iceberg-catalog with warehouse --raw (set by
# the job unless that catalog is configured, then it must be a hadoop SparkCatalog whose warehouse is --raw).
# A date the job writes is one snapshot that replaces the date's partition whole (ReplacePartitions). Its data files
# are the parts cdc-apply writes: part-<first>-<last>-<token>-<kkkkk>.parquet under data/partition_0=<date>/, the RAW
# columns (Op, the table's columns, cdc_file, cdc_row) with their Iceberg field ids and without partition_0, which
# readers take from the manifests. The summary carries cdc-apply.date, cdc-apply.raw-write and cdc-apply.raw-files.
# watermark.json then names the date's parts ("raw"), which cdc-apply state import records as committed, so that
# cdc-apply's next commit of the date keeps them (src/spark/handover.ts). A table the job creates gets cdc-apply's
# schema: the RAW columns in order with ids 1.., partition_0 last, the spec identity(partition_0) with field id 1000.

RAW_PARTITION = 'partition_0'
ICEBERG_CATALOG_CLASS = 'org.apache.iceberg.spark.SparkCatalog'
# the promotions Iceberg allows: a file's narrower value is written as the table's wider type
WIDER = {('integer', 'bigint'), ('float', 'double')}


def raw_catalog_name(args):
    return args.iceberg_catalog + '_raw'


def session_confs(spark):
    """Every setting of the session, static (spark-submit --conf) and set at runtime."""
    jvm = spark._jvm
    confs = spark._jsparkSession.conf().getAll()
    return dict(jvm.scala.collection.JavaConverters.mapAsJavaMapConverter(confs).asJava())


def raw_catalog_missing(job):
    """Sets up the RAW catalog from --iceberg-catalog, or checks the one configured; what is wrong, or None."""
    spark = job.spark
    name = raw_catalog_name(job.args)
    src = 'spark.sql.catalog.' + job.args.iceberg_catalog
    dst = 'spark.sql.catalog.' + name
    confs = session_confs(spark)
    if dst not in confs:
        for k, v in confs.items():
            if (k == src or k.startswith(src + '.')) and k != src + '.warehouse':
                spark.conf.set(dst + k[len(src):], v)
        spark.conf.set(dst + '.warehouse', job.lake.qualified(job.raw))  # file:/… for a folder: the metadata's paths are URIs
        return None
    want = 'unset %s (the job then derives it from %s with warehouse %s), or set it to %s with type hadoop and warehouse %s' % (dst, src, job.raw, ICEBERG_CATALOG_CLASS, job.raw)
    if confs[dst] != ICEBERG_CATALOG_CLASS or confs.get(dst + '.type') != 'hadoop':
        return '%s is %s with type %s; %s' % (dst, json.dumps(confs[dst]), json.dumps(confs.get(dst + '.type')), want)
    wh = confs.get(dst + '.warehouse')
    if wh is None or job.lake.qualified(wh.rstrip('/')) != job.lake.qualified(job.raw):
        return '%s.warehouse is %s, not the RAW root %s; %s' % (dst, json.dumps(wh), job.raw, want)
    return None


def load_iceberg(spark, ident):
    """An Iceberg table through Iceberg's Java API (refreshed), or None when it does not exist yet."""
    jvm = spark._jvm
    try:
        t = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, ident)
    except Exception as e:
        if any(x in str(e) for x in ('NoSuchTableException', 'TABLE_OR_VIEW_NOT_FOUND', 'cannot be found', 'not found')):
            return None
        raise
    t.refresh()
    return t


def check_raw_layout(run, wm):
    """An existing table whose RAW is date folders is never continued as an Iceberg table (a second layout beside the
    first): CDC_RAW_LAYOUT_CHANGED when the watermark is past the full load, RAW holds date folders and no metadata."""
    if not run.t.get('rawIceberg') or not wm or not wm['fullLoad']:
        return
    lake = run.job.lake
    root = '%s/%s/%s' % (run.job.raw, run.t['source'], run.t['name'])
    if lake.exists(root + '/metadata'):
        return
    folders = sorted(n for _, n, d in lake.children(root) if d and re.match(r'^\d{8}$', n))
    if folders:
        raise CdcError('CDC_RAW_LAYOUT_CHANGED', 'table %s: its RAW %s is Parquet date folders (%s..%s) without Iceberg metadata, but the table\'s RAW is an Iceberg table (tableFormat "iceberg", iceberg.raw not false): the job does not start a second RAW layout; reprocess the table (cdc-apply reset, then run), or set iceberg.raw to false and emit the job again' % (run.label, root, folders[0], folders[-1]), 2)


class RawIceberg:
    """One table's RAW Iceberg table."""

    def __init__(self, run):
        self.run = run
        self.spark = run.spark
        self.ident = '%s.`%s`.`%s`' % (raw_catalog_name(run.job.args), run.t['source'], run.t['name'])

    def columns(self, t):
        """[(name, Spark type)] of the table's current schema."""
        js = self.spark._jvm.org.apache.iceberg.spark.SparkSchemaUtil.convert(t.schema()).json()
        return [(f.name, f.dataType) for f in T.StructType.fromJson(json.loads(js)).fields]

    def prepare(self, fields):
        """The table, created with the RAW columns or given the ones it lacks (each after the column before it)."""
        label = self.run.label
        q = lambda n: '`%s`' % n.replace('`', '``')  # noqa: E731
        t = load_iceberg(self.spark, self.ident)
        if t is None:
            cols = ', '.join('%s %s' % (q(n), dt.simpleString()) for n, dt in fields + [(RAW_PARTITION, T.StringType())])
            self.spark.sql("CREATE TABLE %s (%s) USING iceberg PARTITIONED BY (%s) TBLPROPERTIES ('format-version'='2')" % (self.ident, cols, q(RAW_PARTITION)))
            t = load_iceberg(self.spark, self.ident)
        spec = t.spec()
        parts = [(f.name(), f.transform().toString()) for f in spec.fields()]
        if parts != [(RAW_PARTITION, 'identity')]:
            raise CdcError('CDC_ICEBERG_INVALID', 'table %s: the RAW Iceberg table %s is partitioned by %s; expected identity(%s)' % (label, self.ident, parts, RAW_PARTITION))
        have = dict(self.columns(t))
        prev = None
        added = False
        for n, dt in fields:
            if n not in have:
                at = ' FIRST' if prev is None else ' AFTER %s' % q(prev)
                self.spark.sql('ALTER TABLE %s ADD COLUMN %s %s%s' % (self.ident, q(n), dt.simpleString(), at))
                added = True
            prev = n
        return load_iceberg(self.spark, self.ident) if added else t

    def write(self, date, df, files):
        """The date's RAW rows as one snapshot replacing its partition; returns the parts, as watermark.json names them."""
        run = self.run
        lake = run.job.lake
        jvm = self.spark._jvm
        ice = jvm.org.apache.iceberg
        fields = [(f.name, f.dataType) for f in df.schema.fields]
        t = self.prepare(fields)
        table = dict(self.columns(t))
        ids = dict((c.name(), c.fieldId()) for c in t.schema().columns())
        sel = []
        for n, dt in fields:
            want = table[n]
            col = F.col(n)
            if want.simpleString() != dt.simpleString():
                if (dt.simpleString(), want.simpleString()) not in WIDER:
                    raise CdcError('CDC_SCHEMA_MISMATCH', 'table %s: RAW column %s is %s in the files but %s in the RAW Iceberg table %s' % (run.label, json.dumps(n), dt.simpleString(), want.simpleString(), self.ident))
                col = col.cast(want)
            sel.append(col.alias(n, metadata={'parquet.field.id': ids[n]}))
        # columns of the table this date's files lack: NULL, before cdc_file and cdc_row as cdc-apply orders them
        known = set(n for n, _ in fields)
        extra = [F.lit(None).cast(dt).alias(n, metadata={'parquet.field.id': ids[n]}) for n, dt in table.items() if n not in known and n != RAW_PARTITION]
        out = df.select(sel[:-2] + extra + sel[-2:])
        n = out.count()
        folder = '%s/data/%s=%s' % (t.location().rstrip('/'), RAW_PARTITION, date)
        tmp = folder + '/.spark-' + uuid.uuid4().hex
        out.repartition(max(1, -(-n // run.job.args.rows_per_file))).write.mode('overwrite').option('compression', run.job.args.compression).parquet(tmp)
        names = sorted(name for _, name, d in lake.children(tmp) if name.startswith('part-') and name.endswith('.parquet'))
        if not names:  # an empty frame: one empty part, as cdc-apply writes for a write without rows
            self.spark.createDataFrame([], out.schema).coalesce(1).write.mode('overwrite').parquet(tmp)
            names = sorted(name for _, name, d in lake.children(tmp) if name.startswith('part-') and name.endswith('.parquet'))
        first = files[0]['stem'] if files else date
        last = files[-1]['stem'] if files else date
        token = uuid.uuid4().hex[:8]  # a rerun never overwrites a file a snapshot references
        written = []
        for i, name in enumerate(names):
            part = 'part-%s-%s-%s-%05d.parquet' % (first, last, token, i)
            lake.rename(tmp + '/' + name, folder + '/' + part)
            written.append(part)
        lake.delete(tmp)
        for url, name, d in lake.children(folder):  # the checksum files a local rename carries along
            if name.endswith('.crc') and name[1:-4] in written:
                lake.delete(url)
        metrics = ice.MetricsConfig.forTable(t)
        op = t.newReplacePartitions()
        parts = []
        for part in written:
            url = folder + '/' + part
            inp = t.io().newInputFile(url)
            m = ice.parquet.ParquetUtil.fileMetrics(inp, metrics)
            op.addFile(ice.DataFiles.builder(t.spec()).withPath(url).withFileSizeInBytes(inp.getLength()).withMetrics(m)
                       .withPartitionPath('%s=%s' % (RAW_PARTITION, date)).withFormat(ice.FileFormat.PARQUET).build())
            parts.append({'name': part, 'rows': int(m.recordCount()), 'first': first, 'last': last})
        op.set('cdc-apply.date', date).set('cdc-apply.raw-write', '%s-%s' % (first, last)).set('cdc-apply.raw-files', str(len(files)))
        op.commit()
        return {'date': date, 'parts': parts}
