# AdaNAS. Two commands on a fresh machine:  `make run`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= pipelines/configs/digits.yaml
ARGS ?=
# Images: IMAGE is the repository the config's `image:` names (e.g.
# us-docker.pkg.dev/PROJECT/REPO/adanas). TAG is <package version>-<content hash> of the files
# that go into the images, computed by adanas/images.py (stdlib only: any python3 runs it) just
# as the compiled pipeline computes it, so the images built are the ones the pipeline runs.
IMAGE ?= adanas
TAG = $(eval TAG := $$(shell python3 -m adanas.images tag))$(if $(TAG),$(TAG),$(error could not compute the image tag: python3 -m adanas.images tag))

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast compile components validate submit images push cloudbuild kind-up kind-run kind-down bench bench-quick bench-memory clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[cpu,test]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv (if missing) and install the package, TF (CPU) and test tools

run: $(STAMP)  ## run the search locally on the embedded digits config (CONFIG=..., ARGS=...)
	$(VENV)/bin/adanas run --config $(CONFIG) $(ARGS)

test: $(STAMP)  ## run the test suite (config, data, training, selection, pipeline, submission)
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP)  ## the tests without the slow local pipeline runs
	$(PY) -m pytest -m "not slow" $(ARGS)

validate: $(STAMP)  ## check a config (CONFIG=...)
	$(VENV)/bin/adanas validate --config $(CONFIG)

compile: $(STAMP)  ## compile the pipeline YAML for CONFIG into build/
	$(VENV)/bin/adanas compile --config $(CONFIG) $(ARGS)

components: $(STAMP)  ## export every component's YAML spec into build/components/
	$(VENV)/bin/adanas components --output-dir build/components

submit: $(STAMP)  ## submit to Vertex AI: PROJECT=... REGION=... PIPELINE_ROOT=gs://... [ARGS=...]
	@test -n "$(PROJECT)" -a -n "$(REGION)" -a -n "$(PIPELINE_ROOT)" || { echo "set PROJECT, REGION and PIPELINE_ROOT"; exit 2; }
	$(VENV)/bin/adanas submit --config $(CONFIG) --project $(PROJECT) --region $(REGION) --pipeline-root $(PIPELINE_ROOT) $(ARGS)

images:  ## build the step images IMAGE:TAG (CPU), IMAGE-gpu:TAG and IMAGE-tpu:TAG (needs Docker)
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "make images needs a running Docker engine"; exit 2; }
	docker build -f containers/Dockerfile --build-arg ADANAS_TAG=$(TAG) -t $(IMAGE):$(TAG) .
	docker build -f containers/Dockerfile.gpu --build-arg ADANAS_TAG=$(TAG) -t $(IMAGE)-gpu:$(TAG) .
	docker build -f containers/Dockerfile.tpu --build-arg ADANAS_TAG=$(TAG) -t $(IMAGE)-tpu:$(TAG) .

push: images  ## push the images to IMAGE's registry (IMAGE=REGION-docker.pkg.dev/PROJECT/REPO/adanas)
	docker push $(IMAGE):$(TAG)
	docker push $(IMAGE)-gpu:$(TAG)
	docker push $(IMAGE)-tpu:$(TAG)

cloudbuild:  ## build and push the images on Cloud Build instead (IMAGE=...; needs gcloud)
	@command -v gcloud >/dev/null || { echo "make cloudbuild needs the gcloud CLI"; exit 2; }
	gcloud builds submit --config containers/cloudbuild.yaml --substitutions=_IMAGE=$(IMAGE),_TAG=$(TAG) .

KFP_VERSION ?= 2.17.0
KFP_MANIFESTS := github.com/kubeflow/pipelines/manifests/kustomize
KIND_CLUSTER ?= adanas
KFP_HOST ?= http://localhost:8080

kind-up:  ## create a kind cluster and deploy standalone KFP (2.17.0 by default); waits until ready
	@command -v kind >/dev/null && command -v kubectl >/dev/null || { echo "kind-up needs kind and kubectl (and a container engine)"; exit 2; }
	kind create cluster --name $(KIND_CLUSTER) --config containers/kind.yaml
	kubectl apply -k "$(KFP_MANIFESTS)/cluster-scoped-resources?ref=$(KFP_VERSION)"
	kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
	kubectl apply -k "$(KFP_MANIFESTS)/env/platform-agnostic?ref=$(KFP_VERSION)"
	kubectl -n kubeflow wait --for=condition=available --timeout=1200s deployment --all
	@echo "KFP is up. In another shell: kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80"

kind-run: $(STAMP)  ## compile the kubernetes target for CONFIG and submit it to KFP_HOST
	$(VENV)/bin/adanas kfp-submit --config $(CONFIG) --host $(KFP_HOST) $(ARGS)

kind-down:  ## delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[cpu,test,bench]'
	touch $@

bench: $(BENCH_STAMP)  ## run every benchmark (about 10 hours on 2 cores, 3.5 of them the quality suite, 2 its two held-out sets, 1.4 the width sweep); rewrites the tables in BENCHMARKS.md
	$(PY) benchmarks/environment.py --write BENCHMARKS.md
	$(PY) benchmarks/quality.py --seeds 0 1 2 3 4 --write BENCHMARKS.md
	$(PY) benchmarks/quality.py --sets counts angles --seeds 0 1 2 3 4 --write BENCHMARKS.md
	$(PY) benchmarks/split_budget.py --write BENCHMARKS.md
	$(PY) benchmarks/width.py --write BENCHMARKS.md
	$(PY) benchmarks/orchestration.py --write BENCHMARKS.md
	$(PY) benchmarks/selection.py --write BENCHMARKS.md
	$(PY) benchmarks/distillation.py --quality-seeds 3 --write BENCHMARKS.md
	$(PY) benchmarks/claims.py --write BENCHMARKS.md
	$(PY) benchmarks/training_loop.py --write BENCHMARKS.md
	$(PY) benchmarks/augmentation.py --write BENCHMARKS.md
	$(PY) benchmarks/student.py --write BENCHMARKS.md
	$(PY) benchmarks/memory.py --write BENCHMARKS.md

bench-quick: $(BENCH_STAMP)  ## a smoke run of every benchmark, about 13 minutes on 2 cores (prints tables, writes nothing)
	$(PY) benchmarks/quality.py --quick
	$(PY) benchmarks/split_budget.py --quick
	$(PY) benchmarks/width.py --quick
	$(PY) benchmarks/orchestration.py --repeats 1 --set search.boosting_iterations=1
	$(PY) benchmarks/selection.py --members 2 10 --repeats 1
	$(PY) benchmarks/distillation.py --steps 20 --rounds 1
	$(PY) benchmarks/claims.py --quick
	$(PY) benchmarks/training_loop.py --scale 0.2 --rounds 1
	$(PY) benchmarks/augmentation.py --batches 5 --rounds 1 --no-all-cores
	$(PY) benchmarks/student.py --quick
	$(PY) benchmarks/memory.py --quick

bench-memory: $(BENCH_STAMP)  ## peak RSS of each step at 5k/20k/80k images and streamed training's images/s; rewrites its table
	$(PY) benchmarks/memory.py --write BENCHMARKS.md

clean:  ## remove build outputs and local runs (keeps .venv)
	rm -rf build runs .pytest_cache
