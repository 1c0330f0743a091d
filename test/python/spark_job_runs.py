# Runs many emitted cdc-apply Spark jobs in one Spark session (a Spark start costs 20-70 s on a loaded box).
# argv[1]: a plan JSON file: {"runs": [{"job": "<emitted job.py>", "argv": ["--landing", ...]}, ...]}
# argv[2]: where the results go: [{"exitCode": n, "stdout": [json lines of the job]}, ...] in the plan's order.
import contextlib
import io
import json
import sys

from pyspark.sql import SparkSession

plan = json.load(open(sys.argv[1]))
spark = (SparkSession.builder.master('local[2]').appName('cdc-apply-spark-job-tests')
         .config('spark.sql.shuffle.partitions', '2').config('spark.ui.enabled', 'false')
         .config('spark.sql.session.timeZone', 'UTC').getOrCreate())
spark.sparkContext.setLogLevel('ERROR')
results = []
jobs = {}
for i, r in enumerate(plan['runs']):
    if r['job'] not in jobs:
        ns = {'__name__': 'cdc_apply_job_%d' % len(jobs)}
        exec(compile(open(r['job']).read(), r['job'], 'exec'), ns)
        jobs[r['job']] = ns
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
spark.stop()
