"""Real engines started on this machine for the tests and the rehearsal: every one listens on 127.0.0.1 only
and is stopped by whoever started it.

    jars.py            the Maven jars an engine runs on, verified against a lock and cached by the lock's hash
    kafka.py           an Apache Kafka broker in KRaft mode (jars: kafka-broker.jars.lock.json)
    emr_serverless.py  EMR Serverless job runs executed as local Spark processes behind moto's API
    airflow.py         Airflow as MWAA runs a release: the synced DAG folder and MWAA's requirements only
"""
