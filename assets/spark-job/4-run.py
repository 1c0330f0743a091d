# ---- part 4 of the job (assets/spark-job/): the state machine (src/run.ts runTable, runDates) and the entry point

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


def name_ms(stem):
    """A change file's time name as milliseconds since 1970 (src/dms-names.ts timeOfName; second 60 rolls over)."""
    days = (datetime.date(int(stem[0:4]), int(stem[4:6]), int(stem[6:8])) - datetime.date(1970, 1, 1)).days
    return ((days * 24 + int(stem[9:11])) * 60 + int(stem[11:13])) * 60000 + int(stem[13:15]) * 1000 + int(stem[15:18])


def show(v):
    return json.dumps(v, separators=(',', ':'), ensure_ascii=False)


def check_fingerprint(label, saved, t):
    """CDC_TABLE_CHANGED when the config changed what the saved state was written under (src/fingerprint.ts)."""
    try:
        f = json.loads(saved)
    except ValueError:
        return
    if not isinstance(f, dict) or f.get('version') != 1:
        return
    now = json.loads(t['fingerprint'])
    changes = []
    if show(f['primaryKey']) != show(now['primaryKey']):
        changes.append('primaryKey changed from %s to %s' % (show(f['primaryKey']), show(now['primaryKey'])))
    for key in ('timestampColumn', 'sequenceColumn'):
        before, after = f.get(key), now[key]
        if before != after:
            changes.append('%s %s was removed' % (key, show(before)) if after is None else '%s %s was added' % (key, show(after)) if before is None else '%s changed from %s to %s' % (key, show(before), show(after)))
    for name, arrow, kind in now['columns']:
        old = next((c for c in f.get('columns', []) if c[0] == name), None)
        if old is None or old[1] == arrow:
            continue
        changes.append('column %s changed type from %s to %s' % (show(name), old[2] if old[2] is not None else old[1], kind if kind is not None else arrow))
    if changes:
        raise CdcError('CDC_TABLE_CHANGED', 'table %s: the config changed what its saved state was written under: %s; expected the settings of the last run' % (label, '; '.join(changes)), 2)


def committed_fingerprint(t, saved):
    """What the job commits: the config's fingerprint, with the saved columns it does not list (from files)."""
    now = json.loads(t['fingerprint'])
    try:
        f = json.loads(saved) if saved else None
    except ValueError:
        f = None
    if isinstance(f, dict) and f.get('version') == 1:
        names = set(c[0] for c in now['columns'])
        now['columns'] = now['columns'] + [c for c in f.get('columns', []) if c[0] not in names]
    return show(now)


def settle(job, t, wm, loads, cdcs):
    """A folder landing (not S3): objects modified less than settleSeconds ago may still be being copied in; they are
    not read yet, nor anything after them in the table's order (src/table-listing.ts settle). None: wait this run."""
    secs = job.args.settle_seconds
    if secs <= 0 or re.match(r'^s3[an]?://', job.landing):
        return loads, cdcs
    now = time.time() * 1000
    young = next((f for f in loads + cdcs if now - f['mtime'] < secs * 1000), None)
    if young is None:
        return loads, cdcs
    cut = young['kind'] == 'cdc' and (wm is None or young['stem'] > wm['lpf'])
    kept = [f for f in cdcs if f['order'] < young['order']] if cut else None
    if kept is None or (not loads and not kept):
        job.say(t['label'], 'waiting for an object to settle (it was modified moments ago: a copy may be in progress)', object=young['key'], settleSeconds=secs)
        return None
    job.say(t['label'], 'processing the files before an object that is still settling (it was modified moments ago)', object=young['key'], settleSeconds=secs)
    return loads, kept


def run_table(job, t):
    run = TableRun(job, t)
    label = run.label
    first_wm = run.read_state()
    if first_wm and first_wm['fullLoad'] and first_wm.get('fingerprint'):
        check_fingerprint(label, first_wm['fingerprint'], t)
    run.fingerprint = committed_fingerprint(t, first_wm.get('fingerprint') if first_wm else None)
    check_raw_layout(run, first_wm)
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
    settled = settle(job, t, wm, loads, cdcs)
    if settled is None:
        return run.result
    loads, cdcs = settled
    ledger = dict((e['file'], e) for e in wm['ledger']) if wm else {}
    superseded = []
    if wm:
        superseded = [f for f in cdcs if ledger.get(f['stem'], {}).get('superseded')]
        cdcs = [f for f in cdcs if not ledger.get(f['stem'], {}).get('superseded')]
        if wm['fullLoad']:
            superseded = []  # a commit after the load date adds to the ledger; a redo of it rewrites it (below)
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
            # rebuild from the new load (src/plan.ts planTable): change files named before it was written are superseded
            since = min(f['mtime'] for f in reload)
            superseded = [f for f in cdcs if name_ms(f['stem']) < since]
            cdcs = [f for f in cdcs if name_ms(f['stem']) >= since]
            job.say(label, 'table reload: rebuilding from the new full load', load=', '.join(f['key'] for f in reload), superseded=len(superseded))
            wm = None
            ledger = {}
        elif late:
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
        cur = run.apply(None, changes, count=True)
        ledger = dict((f['stem'], run.entry(f)) for f in loads + first)
        for f in superseded:
            ledger[f['stem']] = dict(run.entry(f), checksum='', rows=0, inserts=0, updates=0, deletes=0, quarantined=0, superseded=True)
        later = any(f['date'] > ld for f in cdcs)
        wm = {'fullLoad': later, 'lpf': first[-1]['stem'] if first else ld + '-000000000', 'loadDate': ld}
        run.write_raw(ld, changes, loads + first)
        run.write_curated(ld, cur, wm)
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
        cur = run.apply(cur, new_df, count=True)
        for f in new:
            ledger[f['stem']] = run.entry(f)
        wm = dict(wm, fullLoad=wm['fullLoad'] or date > ld, lpf=new[-1]['stem'])
        run.write_raw(date, changes, old + new)
        run.write_curated(date, cur, wm)
        run.commit(wm, ledger, cur, date, newest)
    return run.result


def iceberg_catalog_missing(job):
    """What is missing for Iceberg curated tables (the runtime jar, the catalog, its type or warehouse), or None."""
    spark = job.spark
    name = job.args.iceberg_catalog
    jvm = spark._jvm
    try:
        jvm.java.lang.Class.forName('org.apache.iceberg.spark.SparkCatalog', False, jvm.java.lang.Thread.currentThread().getContextClassLoader())
    except Exception:
        return 'the Iceberg Spark runtime is not on the classpath (iceberg-spark-runtime-3.5_2.12: --jars, Glue --datalake-formats iceberg, EMR\'s iceberg-defaults)'
    conf = lambda k: spark.conf.get('spark.sql.catalog.%s%s' % (name, k), None)  # noqa: E731
    want = 'set spark.sql.catalog.%s=org.apache.iceberg.spark.SparkCatalog, spark.sql.catalog.%s.type=hadoop and spark.sql.catalog.%s.warehouse=%s' % (name, name, name, job.curated)
    if conf('') != 'org.apache.iceberg.spark.SparkCatalog':
        return 'spark.sql.catalog.%s is %s; %s' % (name, json.dumps(conf('')), want)
    if conf('.type') != 'hadoop':
        return 'spark.sql.catalog.%s.type is %s (the job writes cdc-apply\'s layout <curated>/<Source>/<TableName>/, a hadoop catalog); %s' % (name, json.dumps(conf('.type')), want)
    wh = conf('.warehouse')
    if wh is None or job.lake.qualified(wh.rstrip('/')) != job.lake.qualified(job.curated):
        return 'spark.sql.catalog.%s.warehouse is %s, not the curated root %s; %s' % (name, json.dumps(wh), job.curated, want)
    return None


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
    p.add_argument('--settle-seconds', type=float, default=d['settleSeconds'], help='folder landings: objects modified less than this ago are not read yet (default %(default)s)')
    p.add_argument('--iceberg-catalog', default='cdc', help='tableFormat "iceberg": the Spark catalog of the curated tables (default %(default)s): spark.sql.catalog.<name> must be org.apache.iceberg.spark.SparkCatalog with type hadoop and warehouse --curated')
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
    iceberg = [t for t in tables if t.get('tableFormat') == 'iceberg']
    why = iceberg_catalog_missing(job) if iceberg else None
    if why is None and any(t.get('rawIceberg') for t in iceberg):
        why = raw_catalog_missing(job)
    if why is not None:  # refused before anything is read or written: never a fallback to Parquet date folders
        for t in iceberg:
            err = CdcError('CDC_SPARK_UNSUPPORTED', 'table %s: tableFormat "iceberg" needs Spark\'s Iceberg catalog %s: %s' % (t['label'], json.dumps(args.iceberg_catalog), why), 2)
            print(str(err), file=sys.stderr)
            print(json.dumps({'table': t['label'], 'status': 'error', 'code': err.code, 'message': str(err), 'exitCode': err.exit_code}))
        if own:
            spark.stop()
        return EXIT['usage']
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
