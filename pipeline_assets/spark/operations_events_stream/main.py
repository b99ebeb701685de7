"""spark-submit entry point; the code comes from deps.zip (--py-files). Nothing runs on import."""

import sys

from pipeline_assets.spark.operations_events_stream.job import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
