# One entry point for people, CI and the pipeline's CodeBuild step. `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3.11
UV_VERSION := 0.9.5
VENV := .venv
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
STAMPS := .make
# Stamps are keyed on the lock files' content: a changed pin reinstalls, an unchanged one is a no-op.
hash = $(shell sha256sum $(1) | sha256sum | cut -c1-16)
VENV_STAMP := $(STAMPS)/venv-$(call hash,requirements-dev.lock)
# `uv pip sync` removes what the lock does not list, the project included: key its stamp on both files.
PROJECT_STAMP := $(STAMPS)/project-$(call hash,requirements-dev.lock pyproject.toml)
CHECKOV_STAMP := $(STAMPS)/checkov-$(call hash,requirements-checkov.lock)
NODE_STAMP := $(STAMPS)/node-$(call hash,package-lock.json)
MWAA_VENV := .venv-mwaa
MWAA_STAMP := $(STAMPS)/mwaa-$(call hash,pipeline_assets/mwaa/wheelhouse.lock requirements-dev.lock)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_EC2_METADATA_DISABLED := true
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV_STAMP): requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --quiet --python $(PY) requirements-dev.lock
	@mkdir -p $(STAMPS) && rm -f $(STAMPS)/venv-* && touch $@

# The project itself, editable (a .pth naming this checkout): the `cicd` command, from any folder.
$(PROJECT_STAMP): pyproject.toml $(VENV_STAMP)
	$(VENV)/bin/uv pip install --quiet --no-deps --no-build-isolation --python $(PY) --editable .
	@mkdir -p $(STAMPS) && rm -f $(STAMPS)/project-* && touch $@

$(CHECKOV_STAMP): requirements-checkov.lock $(VENV_STAMP)
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(VENV)/bin/uv pip sync --quiet --python $(CHECKOV_VENV)/bin/python requirements-checkov.lock
	@mkdir -p $(STAMPS) && rm -f $(STAMPS)/checkov-* && touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && rm -f $(STAMPS)/node-* && touch $@

# MWAA's requirements and nothing else (the rehearsal's Airflow), plus the embedded warehouse's client.
$(MWAA_STAMP): pipeline_assets/mwaa/wheelhouse.lock requirements-dev.lock $(VENV_STAMP)
	@test -x $(MWAA_VENV)/bin/python || $(PYTHON) -m venv $(MWAA_VENV)
	$(VENV)/bin/uv pip sync --quiet --python $(MWAA_VENV)/bin/python pipeline_assets/mwaa/wheelhouse.lock
	$(VENV)/bin/uv pip install --quiet --no-deps --python $(MWAA_VENV)/bin/python $$(grep '^duckdb==' requirements-dev.lock)
	@mkdir -p $(STAMPS) && rm -f $(STAMPS)/mwaa-* && touch $@

.PHONY: mwaa-venv
mwaa-venv: $(MWAA_STAMP) ## The rehearsal's Airflow: MWAA's requirements (wheelhouse.lock) only, in .venv-mwaa

.PHONY: venv
venv: $(VENV_STAMP) $(PROJECT_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP) ## Install the pinned toolchain (Python, checkov, CDK CLI) and the `cicd` command; a no-op when nothing changed

.PHONY: lock
lock: $(VENV_STAMP) ## Re-resolve requirements*.lock from requirements*.txt after changing a pin
	$(VENV)/bin/uv pip compile --quiet --no-header --python $(PY) requirements-dev.txt -o requirements-dev.lock
	$(VENV)/bin/uv pip compile --quiet --no-header --python $(CHECKOV_VENV)/bin/python requirements-checkov.txt -o requirements-checkov.lock
	$(VENV)/bin/uv pip compile --quiet --no-header --generate-hashes --python $(PY) -c requirements-dev.lock \
		requirements-integration.txt -o requirements-integration.lock

.PHONY: validate
validate: venv engine-jars ## The main job: every gate check and the release build, offline but for a cold jar cache (JUnit in build/gate)
	$(PY) -m cicd validate --all --junit build/gate/junit.xml
	$(PY) -m cicd release evidence --into build/cdk.out/evidence

.PHONY: validate-changed
validate-changed: venv engine-jars ## The gate on what changed since BASE (default origin/main)
	$(PY) -m cicd validate --changed-since $${BASE:-origin/main} --junit build/gate/junit.xml

.PHONY: test
test: venv engine-jars mwaa-venv ## Every test, slow ones included (the Kafka tests start a real broker; the Airflow ones run in MWAA's environment)
	$(PY) -m pytest -q

.PHONY: rehearsal
rehearsal: venv engine-jars mwaa-venv ## Release A, B, the canary and one rollback on real engines (broker, Spark, Airflow, dbt); prints the figures
	$(PY) -m cicd rehearse $${REHEARSAL_TIMEOUT:+--timeout $$REHEARSAL_TIMEOUT}

.PHONY: change-identities
change-identities: ## Transitional no-op: the Validate spec deployed before issue 17 calls it (README: rolling out)
	@echo "change-identities: recorded by the trusted ChangeEvidence stage now (pipeline_assets/change_evidence)"

.PHONY: audit-evidence
audit-evidence: $(VENV_STAMP) ## Pipeline step: upload the gate report, release and templates to the evidence ledger
	$(PY) -m cicd audit upload-evidence --bucket "$$EVIDENCE_BUCKET" --pipeline "$$PIPELINE_NAME" --execution-id "$$PIPELINE_EXECUTION_ID"

INTEGRATION_VENV := .venv-integration
INTEGRATION_WHEELS := build/integration-toolchain

.PHONY: integration-toolchain
integration-toolchain: ## Pipeline step (PyPI): wheels of requirements-integration.lock, hashes enforced, for the in-VPC tests
	rm -rf $(INTEGRATION_WHEELS) && mkdir -p $(INTEGRATION_WHEELS)
	$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --require-hashes --no-deps \
		--requirement requirements-integration.lock --wheel-dir $(INTEGRATION_WHEELS)

.PHONY: integration-test
integration-test: ## Pipeline step (staging VPC, no internet): tests/external against the stage's S3, Snowflake and MSK
	@test -n "$$(ls $(INTEGRATION_WHEELS)/*.whl 2>/dev/null)" || { \
		echo "$(INTEGRATION_WHEELS) has no wheels: run make integration-toolchain first (it needs PyPI)" >&2; exit 2; }
	rm -rf $(INTEGRATION_VENV) && $(PYTHON) -m venv $(INTEGRATION_VENV)
	$(INTEGRATION_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
		$(INTEGRATION_WHEELS)/*.whl
	$(INTEGRATION_VENV)/bin/python -m pip check
	$(INTEGRATION_VENV)/bin/python -m cicd.poststeps poststep integration-tests --env $${TARGET_ENV:-staging}

.PHONY: canaries
canaries: venv ## Pipeline step (staging): run every canary Lambda once; any problem fails the step
	$(PY) -m cicd poststep canaries --env $${TARGET_ENV:-staging}

.PHONY: dbt-baseline
dbt-baseline: venv ## Refresh the committed dbt compatibility baseline after a prod release
	$(PY) -m cicd dbt baseline

.PHONY: changeset-review
changeset-review: venv ## Pipeline step: reject a prepared change set that replaces stateful resources (STACK=, ROLE_ARN=, REGION=)
	$(PY) -m cicd changeset review --stack $(STACK) --role-arn $(ROLE_ARN) --region $(REGION)

.PHONY: template-reference
template-reference: venv ## Record the sha256 of every synthesized template after a change that means to change them (docs/architecture.md)
	RECORD_TEMPLATE_REFERENCE=1 $(PY) -m pytest -q -p no:cacheprovider -rs tests/stacks/test_template_identity.py

.PHONY: synth
synth: venv ## cdk synth every environment into build/cdk.out
	$(PY) -m cicd validate --only cdk-synth

.PHONY: packages
packages: spark-jars mwaa-wheelhouse ## Network: fetch and verify the jars and wheels the cloud installs into build/packages (docs/packages.md)

.PHONY: packages-toolchain
packages-toolchain: $(VENV_STAMP) ## Check that mvn is Maven 3.8+ on Java 17, before any jar is fetched
	$(PY) -m cicd packages toolchain

.PHONY: spark-jars
spark-jars: packages-toolchain ## Network (Maven Central): download the jars of jars.lock.json into build/packages/jars, sha256-checked
	$(PY) -m cicd packages spark-jars

.PHONY: spark-jars-lock
spark-jars-lock: packages-toolchain ## Network (Maven Central): record the sha256 of new jars in jars.lock.json (checked against Maven's .sha1)
	$(PY) -m cicd packages spark-jars --record

.PHONY: engine-jars
engine-jars: $(VENV_STAMP) ## Network (Maven Central) on a cache miss: the test broker's and local S3A jars, sha256-checked, cached by lock hash
	$(PY) -m cicd.engines.jars fetch

.PHONY: engine-jars-lock
engine-jars-lock: $(VENV_STAMP) ## Network (Maven Central): re-resolve cicd/engines/*.jars.lock.json fresh and record every jar's sha256
	$(PY) -m cicd.engines.jars record

.PHONY: mwaa-wheelhouse
mwaa-wheelhouse: $(VENV_STAMP) ## Network (PyPI): pip download the MWAA locks (hashes enforced) and build build/packages/plugins.zip
	$(PY) -m cicd packages mwaa-wheelhouse

.PHONY: mwaa-lock
mwaa-lock: $(VENV_STAMP) ## Network (PyPI): re-resolve pipeline_assets/mwaa/{wheelhouse,dbt}.lock for MWAA's Python after changing a pin
	cd pipeline_assets/mwaa && for name in wheelhouse dbt; do \
		../../$(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11.9 \
			--python-platform x86_64-manylinux_2_28 -c ../../requirements-dev.lock $$name.in -o $$name.lock; done

.PHONY: fmt
fmt: $(VENV_STAMP) ## Format and auto-fix Python
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

.PHONY: bench-gate
bench-gate: venv ## Gate seconds on scratch clones (as is, and grown to 180 pipelines) and the table of targets
	$(PY) -m cicd gate-bench

.PHONY: bench-data-diff
bench-data-diff: venv ## Data-diff mutation benchmark: 60+ one-line SQL changes, what the diff shows vs what the gate catches
	$(PY) -m cicd dbt diff-bench --json build/datadiff/bench.json

.PHONY: clean
clean: ## Remove build output (keeps the toolchain)
	rm -rf build cdk.out dbt_project/target

.PHONY: distclean
distclean: clean ## Remove build output and every installed toolchain
	rm -rf $(VENV) $(CHECKOV_VENV) $(MWAA_VENV) $(INTEGRATION_VENV) node_modules $(STAMPS)
