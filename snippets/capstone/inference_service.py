import yaml
from kserve import (ApiClient, V1beta1InferenceService, V1beta1InferenceServiceSpec, V1beta1PredictorSpec,
                    V1beta1TransformerSpec, constants)
from kubernetes.client import V1Container, V1EnvVar, V1ObjectMeta, V1ResourceRequirements

from cardfraud.pipelines import IMAGE  # the course's image: the repository's requirements and cardfraud
from cardfraud.serving import manifest_problems

MLFLOW = "http://mlflow.mlops.svc.cluster.local:5000"  # module 5.3's Service, port included
FEATURE_REPO = "/feature_repo"  # feature_store.yaml of module 5.2 (Redis online store), from a ConfigMap


def server(arguments: list[str], cpu: str) -> V1Container:
    """One cardfraud.serving process, listening on the pod's address (the laptop default is 127.0.0.1);
    KServe adds --http_port and, for the transformer, --predictor_host."""
    return V1Container(
        name="kserve-container", image=IMAGE,
        command=["python", "-m", "cardfraud.serving"], args=["--bind", "0.0.0.0", *arguments],
        env=[V1EnvVar(name="OMP_NUM_THREADS", value="1")],
        resources=V1ResourceRequirements(requests={"cpu": cpu, "memory": "512Mi"}, limits={"cpu": "1", "memory": "1Gi"}),
    )


def fraud_detector(model_uri: str, canary_percent: int | None = None) -> V1beta1InferenceService:
    predictor = V1beta1PredictorSpec(
        min_replicas=2, max_replicas=6, canary_traffic_percent=canary_percent,
        containers=[server(["--model_name", "fraud-detector", "--model_uri", model_uri, "--tracking_uri", MLFLOW], "500m")],
    )
    transformer = V1beta1TransformerSpec(
        min_replicas=2, max_replicas=6,
        containers=[server(["--model_name", "fraud-detector", "--feature_repo", FEATURE_REPO,
                            "--prediction_log", "/dev/stdout"], "250m")],  # the log goes to the cluster's log pipeline
    )
    return V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1, kind="InferenceService",
        metadata=V1ObjectMeta(name="fraud-detector", namespace="fraud"),
        spec=V1beta1InferenceServiceSpec(predictor=predictor, transformer=transformer),
    )


# The canary step of the loop: the new version takes 10% of the requests.
manifest = ApiClient().sanitize_for_serialization(fraud_detector("models:/fraud-detector/2", canary_percent=10))
print(yaml.safe_dump(manifest["spec"], sort_keys=False))
print("problems:", manifest_problems(manifest))
