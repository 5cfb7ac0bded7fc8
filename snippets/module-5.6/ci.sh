# On every change: data contract, point-in-time features, model behaviour tests
python -m pytest -qq -p no:cacheprovider --pyargs cardfraud.model_tests
# The pipeline still compiles to the YAML a cluster accepts
python -m cardfraud.pipelines compile fraud_pipeline.yaml
