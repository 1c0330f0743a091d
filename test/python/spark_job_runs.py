# Runs many emitted cdc-apply Spark jobs in one Spark session (a Spark start costs 20-70 s on a loaded box).
# argv[1]: a plan JSON file: {"runs": [{"job": "<emitted job.py>", "argv": ["--landing", ...], "conf": {...}}, ...],
#          "jars": "<jar>,...", "iceberg": [{"name", "a": {"warehouse", "namespace", "table"}, "b": {...}}]}
#          conf: Spark settings set before that run (e.g. an Iceberg catalog: each warehouse under its own name, as a
#          catalog is loaded once per name); jars: spark.jars of the session (the Iceberg runtime);
#          iceberg: tables compared after the runs (see compare_iceberg).
# argv[2]: where the results go: [{"exitCode": n, "stdout": [json lines of the job]}, ...] in the plan's order.
# argv[3]: (with "iceberg") where the comparisons go: [{"name", "tags": {...}, "errors": [...]}].
import contextlib
import io
import json
import sys

from pyspark.sql import SparkSession

plan = json.load(open(sys.argv[1]))
builder = (SparkSession.builder.master('local[2]').appName('cdc-apply-spark-job-tests')
           .config('spark.sql.shuffle.partitions', '2').config('spark.ui.enabled', 'false')
           .config('spark.sql.session.timeZone', 'UTC'))
if plan.get('jars'):
    builder = builder.config('spark.jars', plan['jars'])
spark = builder.getOrCreate()
spark.sparkContext.setLogLevel('ERROR')
results = []
jobs = {}
for i, r in enumerate(plan['runs']):
    if r['job'] not in jobs:
        ns = {'__name__': 'cdc_apply_job_%d' % len(jobs)}
        exec(compile(open(r['job']).read(), r['job'], 'exec'), ns)
        jobs[r['job']] = ns
    for k, v in r.get('conf', {}).items():
        spark.conf.set(k, v)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = jobs[r['job']]['main'](r['argv'], spark)
        except Exception as e:  # a bug of the job: reported, not hidden
            print(json.dumps({'status': 'crash', 'message': repr(e)}))
            code = 99
    results.append({'exitCode': code, 'stdout': [json.loads(x) for x in out.getvalue().splitlines() if x.startswith('{')]})
    print('run %d/%d exit %d' % (i + 1, len(plan['runs']), code), file=sys.stderr)
json.dump(results, open(sys.argv[2], 'w'))


def compare_iceberg(c, k):
    """Two Iceberg tables by content: the same tags; at every tag and on main the same rows and the same cdc-apply
    summary properties (cdc-apply.date, cdc-apply.lpf, cdc-apply.full-load) of the snapshot it names."""
    idents = []
    for side in ('a', 'b'):
        name = 'cmp%d%s' % (k, side)
        spark.conf.set('spark.sql.catalog.%s' % name, 'org.apache.iceberg.spark.SparkCatalog')
        spark.conf.set('spark.sql.catalog.%s.type' % name, 'hadoop')
        spark.conf.set('spark.sql.catalog.%s.warehouse' % name, c[side]['warehouse'])
        idents.append('%s.`%s`.`%s`' % (name, c[side]['namespace'], c[side]['table']))

    def refs(ident):
        snaps = dict((r['snapshot_id'], dict((x, r['summary'].get(x)) for x in ('cdc-apply.date', 'cdc-apply.lpf', 'cdc-apply.full-load')))
                     for r in spark.sql('SELECT snapshot_id, summary FROM %s.snapshots' % ident).collect())
        return dict((r['name'], (r['snapshot_id'], snaps.get(r['snapshot_id']))) for r in spark.sql('SELECT name, snapshot_id FROM %s.refs' % ident).collect())

    def rows(ident, sid):
        return sorted(repr(sorted(r.asDict().items())) for r in spark.sql('SELECT * FROM %s VERSION AS OF %d' % (ident, sid)).collect())

    ra, rb = refs(idents[0]), refs(idents[1])
    errors = []
    if sorted(ra) != sorted(rb):
        errors.append('refs %s != %s' % (sorted(ra), sorted(rb)))
    tags = {}
    for ref in sorted(set(ra) & set(rb)):
        (sa, pa), (sb, pb) = ra[ref], rb[ref]
        got, want = rows(idents[0], sa), rows(idents[1], sb)
        tags[ref] = {'rows': len(got), 'summary': pa}
        if got != want:
            errors.append('%s: %d rows differ from %d' % (ref, len(got), len(want)))
        if pa != pb:
            errors.append('%s: summary %s != %s' % (ref, pa, pb))
    return {'name': c['name'], 'tags': tags, 'errors': errors}


if plan.get('iceberg'):
    json.dump([compare_iceberg(c, k) for k, c in enumerate(plan['iceberg'])], open(sys.argv[3], 'w'))
spark.stop()
