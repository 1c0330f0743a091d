# ---- part 3 of the job (assets/spark-job/): one table's run: reading, applying, writing, state

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
        self.info = {}  # stem -> {checksum, rows, inserts, updates, deletes, quarantined}
        self.rejected = {}  # stem -> [(cdc_file, line, cdc_row, code, reason, record)]: onBadRow "quarantine"
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
        metas = dict((f['name'], f) for f in files)

        def records(kv):
            meta = metas[kv[0][kv[0].rfind('/') + 1:]]
            md5, header, recs = csv_records(t, meta, bytes(kv[1]))
            return meta['name'], md5, header, recs

        parsed = self.job.sc.binaryFiles(','.join(f['url'] for f in files), max(1, min(len(files), 64))).map(records).persist()
        layouts = {}
        upto = {}
        if t['header']:
            # the headers name the columns: new ones join the table in file order (schema drift)
            heads = dict(parsed.map(lambda x: (x[0], x[2])).collect())
            for f in files:
                layout = header_layout(t, f, heads[f['name']], dict(self.csv_kinds()))
                self.merge([(c['name'], spark_type(c['type'])) for c in layout], f['key'], False)
                layouts[f['name']] = layout
                upto[f['name']] = len(self.schema)
        columns = [{'name': n, 'type': kind} for n, kind in self.csv_kinds()]
        schema = T.StructType([T.StructField('Op', T.StringType())] + [T.StructField(n, dt) for n, dt in self.schema] + [T.StructField('cdc_file', T.StringType()), T.StructField('cdc_row', T.LongType())])

        def rows(x):
            meta = metas[x[0]]
            good, bad = csv_rows(t, meta, x[3], columns, layouts.get(x[0]), upto.get(x[0]))
            return meta['stem'], x[1], good, bad

        conv = parsed.map(rows).persist()
        for stem, md5, n, bad in conv.map(lambda x: (x[0], x[1], len(x[2]), x[3])).collect():
            self.info[stem] = {'checksum': md5, 'rows': n, 'inserts': 0, 'updates': 0, 'deletes': 0, 'quarantined': len(bad)}
            self.rejected[stem] = bad
        return self.spark.createDataFrame(conv.flatMap(lambda x: x[2]), schema)

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
            badop = F.col('Op').isNull() | ~F.col('Op').isin('I', 'U', 'D')
            rejected = []
            if t.get('onBadRow') == 'quarantine':
                sel, rejected = self.parquet_rejects(f, sel, badop)
            else:
                bad = sel.filter(badop).select('Op', 'cdc_row').limit(1).collect()
                if bad:
                    raise CdcError('CDC_ROW_INVALID_OP', 'table %s: unknown Op %s in %s row %d; expected I, U or D' % (self.label, json.dumps(bad[0][0]), f['key'], bad[0][1]))
            md5 = self.job.sc.binaryFiles(f['url']).map(lambda kv: hashlib.md5(bytes(kv[1])).hexdigest()).collect()[0]
            self.info[f['stem']] = {'checksum': md5, 'rows': sel.count(), 'inserts': 0, 'updates': 0, 'deletes': 0, 'quarantined': len(rejected)}
            self.rejected[f['stem']] = rejected
            out.append(sel)
        df = out[0]
        for x in out[1:]:
            df = df.unionByName(x, allowMissingColumns=True)
        return df

    def parquet_rejects(self, f, sel, badop):
        """onBadRow "quarantine" on a Parquet object: rows with an unknown Op (src/read-parquet.ts), then rows with a NULL key
        or a NaN ordering value (src/read.ts dropNullKeys) are set aside with cdc-apply's reasons; the rest is kept."""
        t = self.t
        have = set(sel.columns)
        names = [n for n, _ in self.schema]
        kinds = ['int32' if isinstance(dt, (T.IntegerType, T.ShortType, T.ByteType)) else dt.simpleString() for _, dt in self.schema]
        keys, nans = row_checks(t, kinds, names)
        nullkey = F.lit(False)
        for _, n in keys:
            nullkey = nullkey | (F.col(n).isNull() if n in have else F.lit(True))
        nan = F.lit(False)
        for _, n in nans:
            if n in have:
                nan = nan | F.isnan(F.col(n))
        out = []
        cols = [F.col(n) if n in have else F.lit(None).alias(n) for n in names]
        for r in sel.filter(badop | nullkey | nan).select([F.col('Op'), F.col('cdc_row')] + cols).collect():
            row = r['cdc_row']
            vals = [r[n] for n in names]
            where = '%s row %d' % (f['key'], row)
            if r['Op'] not in ('I', 'U', 'D'):
                code, why = 'CDC_ROW_INVALID_OP', 'table %s: unknown Op %s in %s; expected I, U or D' % (self.label, json.dumps('null' if r['Op'] is None else r['Op'], ensure_ascii=False), where)
            else:
                k = next((n for at, n in keys if vals[at] is None), None)
                if k is not None:
                    code, why = 'CDC_PK_MISSING', 'table %s: primary-key column %s is NULL in %s; expected a value' % (self.label, json.dumps(k, ensure_ascii=False), where)
                else:
                    n = next(n for at, n in nans if isinstance(vals[at], float) and vals[at] != vals[at])
                    code, why = 'CDC_VALUE_INVALID', 'table %s: ordering column %s is NaN in %s; expected a number (NaN has no place in the order of changes)' % (self.label, json.dumps(n, ensure_ascii=False), where)
            out.append((f['name'], -1, row, code, why, row_text(names, kinds, vals)))
        return sel.filter(~(badop | nullkey | nan)), out

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

    def apply(self, state, changes, count=False):
        """The winner of every key over the state (live rows and tombstones) and the changes: a checkpointed frame.
        count: the changes' files get cdc-apply's ledger counts (count_applied)."""
        moves = self.moves(changes) if changes is not None else None
        parts = [x for x in (state, changes, moves) if x is not None]
        if not parts:
            return None
        if count and changes is not None:
            self.count_applied(state, changes, moves)
        df = parts[0]
        for x in parts[1:]:
            df = df.unionByName(x, allowMissingColumns=True)
        w = Window.partitionBy('_key').orderBy(F.col('_ts').desc_nulls_last(), F.col('_seq').desc_nulls_last(), F.col('_fk').desc(), F.col('cdc_row').desc())
        win = df.withColumn('_rn', F.row_number().over(w)).filter(F.col('_rn') == 1).drop('_rn', 'Op')
        return self.project(win, ['cdc_file', 'cdc_row'] + INTERNAL).localCheckpoint(eager=True)

    def count_applied(self, state, changes, moves):
        """The ledger's inserts, updates and deletes per file as cdc-apply counts them (src/apply.ts): files are applied
        in order, rows in order, and a change counts only when it is not older than its key's state at that moment
        (the greatest change applied before it, the restored state included); older ones are stale. A key move counts
        as a delete of the old key (when not older than that key's state)."""
        cols = ['_key', '_op', '_ts', '_seq', '_fk', 'cdc_row']
        frames = [changes.select(*cols).withColumn('_new', F.lit(True)).withColumn('_mv', F.lit(False))]
        if moves is not None:
            frames.append(moves.select(*cols).withColumn('_new', F.lit(True)).withColumn('_mv', F.lit(True)))
        if state is not None:
            frames.append(state.select(*cols).withColumn('_new', F.lit(False)).withColumn('_mv', F.lit(False)))
        df = frames[0]
        for x in frames[1:]:
            df = df.unionByName(x)
        point = F.struct('_ts', '_seq', '_fk', 'cdc_row')  # struct order: field by field, NULL lowest
        before = Window.partitionBy('_key').orderBy(F.col('_new'), F.col('_fk'), F.col('cdc_row')).rowsBetween(Window.unboundedPreceding, -1)
        live = df.withColumn('_prev', F.max(point).over(before)).filter(F.col('_new') & (F.col('_prev').isNull() | (point >= F.col('_prev'))))
        got = live.groupBy(F.expr('substring(_fk, 3)').alias('stem')).agg(
            F.sum(F.when(~F.col('_mv') & (F.col('_op') == 'I'), 1).otherwise(0)).alias('i'),
            F.sum(F.when(~F.col('_mv') & (F.col('_op') == 'U'), 1).otherwise(0)).alias('u'),
            F.sum(F.when(F.col('_mv') | (F.col('_op') == 'D'), 1).otherwise(0)).alias('d')).collect()
        for r in got:
            i = self.info.setdefault(r['stem'], {})
            i.update(inserts=int(r['i']), updates=int(r['u']), deletes=int(r['d']))

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
        # The date is written whole: every other Parquet object under it is superseded, also cdc-apply's parts
        # named after their files (part-<first>-<last>-<k>.parquet, docs/semantics.md "RAW layout").
        keep = set('part-%05d.parquet' % i for i in range(len(parts)))
        for url, name, d in lake.children(dest):
            if (name.endswith('.parquet') and name not in keep) or name.endswith('.crc'):
                lake.delete(url)
        lake.delete(tmp)

    def write_raw(self, date, changes, files):
        """The date's RAW whole: a date folder, or one snapshot of the RAW Iceberg table (3-rawiceberg.py) whose parts
        the next commit names in watermark.json."""
        cols = ['Op'] + [n for n, _ in self.schema] + ['cdc_file', 'cdc_row']
        rows = self.project(changes, ['Op', 'cdc_file', 'cdc_row']).select(cols)
        if self.t.get('rawIceberg'):
            self.raw_commit = RawIceberg(self).write(date, rows, files)
        else:
            self.write_partition(rows, self.part(self.job.raw, date))
        self.write_quarantine(date, files)
        self.result['rawDates'].append(date)

    QUARANTINE_SCHEMA = T.StructType([T.StructField('cdc_file', T.StringType()), T.StructField('line', T.LongType()), T.StructField('cdc_row', T.LongType()),
                                      T.StructField('code', T.StringType()), T.StructField('reason', T.StringType()), T.StructField('record', T.StringType())])

    def write_quarantine(self, date, files):
        """onBadRow "quarantine": the rows set aside from the date's files go to <raw>/_quarantine/<Source>/<TableName>/<date>/
        as one object named as cdc-apply names a write's (part-<first>-<last>-00000.parquet, src/quarantine.ts). The date is
        written whole, so every other object of the folder is removed."""
        if self.t.get('onBadRow') != 'quarantine':
            return
        lake = self.job.lake
        dest = '%s/_quarantine/%s/%s/%s' % (self.job.raw, self.t['source'], self.t['name'], date)
        rows = [r for f in files for r in self.rejected.get(f['stem'], [])]
        name = 'part-%s-%s-00000.parquet' % (files[0]['stem'], files[-1]['stem']) if files else 'part-%s-%s-00000.parquet' % (date, date)
        if rows:
            tmp = dest + '/.spark-' + uuid.uuid4().hex
            self.spark.createDataFrame(rows, self.QUARANTINE_SCHEMA).coalesce(1).write.mode('overwrite').option('compression', self.job.args.compression).parquet(tmp)
            part = next(n for _, n, d in lake.children(tmp) if n.startswith('part-') and n.endswith('.parquet'))
            if lake.exists(dest + '/' + name):
                lake.delete(dest + '/' + name)
            lake.rename(tmp + '/' + part, dest + '/' + name)
            lake.delete(tmp)
        for url, n, d in lake.children(dest):
            if n != name or not rows:
                lake.delete(url)

    def write_curated(self, date, win, wm=None):
        """The curated snapshot of a date. wm: the watermark its commit records (None: a date without new files)."""
        cols = [n for n, _ in self.schema] + ['cdc_file', 'cdc_row']
        df = self.project(self.live(win), ['cdc_file', 'cdc_row']).select(cols)
        if self.t.get('tableFormat') == 'iceberg':
            self.write_iceberg(date, df, wm)
        else:
            self.write_partition(df, self.part(self.job.curated, date))
        self.result['curatedDates'].append(date)

    # ---- Iceberg curated tables (tableFormat "iceberg", src/curated-sink.ts IcebergSink): the table <Source>.<TableName>
    # of Spark's Iceberg catalog --iceberg-catalog (a hadoop catalog whose warehouse is --curated: the table is
    # <curated>/<Source>/<TableName>/, cdc-apply's layout). One overwrite commit per date with new files, with
    # cdc-apply's snapshot summary (cdc-apply.date, cdc-apply.lpf, cdc-apply.full-load), then the tag d<YYYYMMDD>; a date
    # without new files only tags the current snapshot.
    def ident(self):
        return '%s.`%s`.`%s`' % (self.job.args.iceberg_catalog, self.t['source'], self.t['name'])

    def iceberg_table(self):
        """The table through Iceberg's Java API (refreshed), or None when it does not exist yet."""
        jvm = self.job.spark._jvm
        try:
            t = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(self.job.spark._jsparkSession, self.ident())
        except Exception as e:
            if any(x in str(e) for x in ('NoSuchTableException', 'TABLE_OR_VIEW_NOT_FOUND', 'cannot be found', 'not found')):
                return None
            raise
        t.refresh()
        return t

    def write_iceberg(self, date, df, wm):
        t = self.iceberg_table()
        tag = 'd' + date
        if wm is None and t is not None and t.currentSnapshot() is not None:
            self.iceberg_tag(t, tag)
            return
        ident = self.ident()
        if t is None:
            cols = ', '.join('`%s` %s' % (f.name.replace('`', '``'), f.dataType.simpleString()) for f in df.schema.fields)
            self.spark.sql("CREATE TABLE %s (%s) USING iceberg TBLPROPERTIES ('format-version'='2')" % (ident, cols))
        else:
            have = set(c.name() for c in t.schema().columns())
            extra = [f for f in df.schema.fields if f.name not in have]
            if extra:  # schema drift: new columns join the table (older snapshots read them as NULL)
                self.spark.sql('ALTER TABLE %s ADD COLUMNS (%s)' % (ident, ', '.join('`%s` %s' % (f.name.replace('`', '``'), f.dataType.simpleString()) for f in extra)))
        n = df.count()
        w = df.repartition(max(1, -(-n // self.job.args.rows_per_file))).writeTo(ident).option('snapshot-property.cdc-apply.date', date)
        if wm is not None:
            w = w.option('snapshot-property.cdc-apply.lpf', wm['lpf']).option('snapshot-property.cdc-apply.full-load', 'true' if wm['fullLoad'] else 'false')
        w.overwrite(F.lit(True))
        self.iceberg_tag(self.iceberg_table(), tag)

    def iceberg_tag(self, t, tag):
        sid = t.currentSnapshot().snapshotId()
        ms = t.manageSnapshots()
        if t.refs().containsKey(tag):
            ms = ms.replaceTag(tag, sid)
        else:
            ms = ms.createTag(tag, sid)
        ms.commit()

    def read_iceberg(self, date):
        """The rows of the table's tag d<date>, or None when there is no such tag."""
        t = self.iceberg_table()
        ref = t.refs().get('d' + date) if t is not None else None
        if ref is None:
            return None
        return self.spark.sql('SELECT * FROM %s VERSION AS OF %d' % (self.ident(), ref.snapshotId()))

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
              'tombstones': name, 'ledger': sorted(ledger.values(), key=lambda e: e['file']), 'fingerprint': getattr(self, 'fingerprint', None), 'committedAt': now_iso(), 'writer': 'spark-job'}
        if getattr(self, 'raw_commit', None) is not None and self.raw_commit['date'] == date:
            st['raw'] = self.raw_commit  # the RAW Iceberg partition of the date just written: committed with the watermark
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
                'inserts': i.get('inserts', 0), 'updates': i.get('updates', 0), 'deletes': i.get('deletes', 0), 'quarantined': i.get('quarantined', 0), 'superseded': False}

    # ---- restoring (src/run.ts restore, restoreCommitted)
    def restore(self, date, lpf=None):
        url = self.part(self.job.curated, date)
        if self.t.get('tableFormat') == 'iceberg':
            url = '%s tag d%s' % (self.ident(), date)
            snap = self.read_iceberg(date)
            if snap is None:
                raise CdcError('CDC_SNAPSHOT_MISSING', 'table %s: the curated snapshot of %s (the watermark\'s date) is missing: the Iceberg table %s has no tag d%s' % (self.label, date, self.ident(), date))
        elif not self.job.lake.exists(url):
            raise CdcError('CDC_SNAPSHOT_MISSING', 'table %s: the curated snapshot of %s (the watermark\'s date) is missing from %s' % (self.label, date, self.job.curated))
        else:
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

