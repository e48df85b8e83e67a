"""spark-submit entry point: the ``pinpipe`` command as a Spark driver program.

    spark-submit --master spark://host:7077 \\
        --packages "$(python -m pinpipe.engines.spark.session)" \\
        --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \\
        --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \\
        src/pinpipe/cli/spark_submit.py --lake /shared/lake batch

Everything after the script is a ``pinpipe`` command line (``batch``, ``stream --once``,
``query --all --view merged``, ...), run on the Spark engine with the session spark-submit
configured: master, jars and resources come from spark-submit, never from pinpipe's local
defaults. ``--bootstrap-servers HOST:PORT`` first points the stream job at Kafka.
``SparkEngine.job_command`` builds this whole line for a scheduler. The file runs as a plain
script (spark-submit ships it to the driver), so it imports only the installed package.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    env = {
        "PINPIPE_ENGINE": "spark",
        "PINPIPE_SPARK__MASTER": "",  # the session spark-submit configured
        "PINPIPE_SPARK__RESOLVE_JARS": "false",  # spark-submit --packages brought them
    }
    if "--bootstrap-servers" in args:
        at = args.index("--bootstrap-servers")
        env["PINPIPE_LOG__BACKEND"] = "kafka"
        env["PINPIPE_LOG__BOOTSTRAP_SERVERS"] = args[at + 1]
        del args[at : at + 2]
    os.environ.update(env)
    sys.argv = ["pinpipe", *args]
    from pinpipe.cli.main import main as pinpipe

    pinpipe()


if __name__ == "__main__":
    main()
