"""spark-submit entry point: run pinpipe's batch or stream job on a Spark cluster.

    spark-submit --master spark://host:7077 \\
        --packages "$(python -m pinpipe.engines.spark.session)" \\
        --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \\
        --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \\
        src/pinpipe/cli/spark_submit.py batch --lake /shared/lake

(``python -m pinpipe.engines.spark.session`` prints the matching connector coordinates;
``SparkEngine.job_command`` builds this whole line for a scheduler).

The file runs as a plain script (spark-submit ships it to the driver), so it imports only the
installed ``pinpipe`` package. The session spark-submit created is reused as is: the cluster's
master, jars and resources come from spark-submit, never from pinpipe's local defaults.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinpipe-spark-submit", description=__doc__)
    parser.add_argument("job", choices=("batch", "query", "stream"))
    parser.add_argument("--lake", required=True, help="Lake root (a path the driver can reach).")
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (stream).")
    parser.add_argument("--once", action="store_true", help="stream: drain Kafka, then stop.")
    parser.add_argument("--trigger-ms", type=int, default=500, help="stream trigger interval.")
    parser.add_argument("--topic-pattern", default=None, help="stream: topics to subscribe to.")
    parser.add_argument("--view", default="batch", help="query: batch, stream or merged.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from pyspark.sql import SparkSession

    from pinpipe.engines.spark import SparkEngine
    from pinpipe.lake import Lake

    session = SparkSession.builder.getOrCreate()  # the one spark-submit configured
    engine = SparkEngine(session=session)
    lake = Lake.at(args.lake)
    if args.job == "batch":
        from pinpipe.jobs.batch import run_batch

        report = run_batch(lake, engine)
        print(f"batch: {report.total_raw:,} raw records → {report.rows} rows")
    elif args.job == "query":
        from pinpipe.serve.query import run_queries
        from pinpipe.transform.queries import QUERIES

        for name, table in run_queries(lake, engine, list(QUERIES), args.view).items():
            print(f"== {name}\n{table.to_pandas().to_string(index=False)}")
    else:
        from pinpipe.engines.spark.stream import SparkStreamJob
        from pinpipe.settings import SparkSettings, StreamSettings

        if not args.bootstrap_servers:
            print("stream needs --bootstrap-servers", file=sys.stderr)
            return 2
        spark = SparkSettings(
            **({"topic_pattern": args.topic_pattern} if args.topic_pattern else {})
        )
        job = SparkStreamJob(
            engine, lake, args.bootstrap_servers,
            StreamSettings(trigger_interval_ms=args.trigger_ms), spark,
        )  # fmt: skip
        job.run(threading.Event(), once=args.once)
        print(f"stream: {job.stats.records:,} records → {job.stats.rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
