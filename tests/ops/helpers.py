"""Reading a scrape the way Prometheus does, with prometheus_client's own parser."""

from __future__ import annotations

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

METRICS = "/ucmail/ops/metrics"
READY = "/ucmail/ops/ready"


def scrape(
    client: FlaskClient, **headers: str
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{family: {sorted label pairs: value}}`` of one scrape of the metrics URL."""
    response = client.get(METRICS, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    families: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            key = (("__name__", sample.name), *sorted(sample.labels.items()))
            samples[key] = sample.value
    return families


def value(
    families: dict[str, dict[tuple[tuple[str, str], ...], float]],
    sample: str,
    **labels: object,
) -> float:
    """One sample's value (0 when the series does not exist yet, as PromQL's ``or 0``)."""
    wanted = (("__name__", sample), *sorted((k, str(v)) for k, v in labels.items()))
    for samples in families.values():
        if wanted in samples:
            return samples[wanted]
    return 0.0
