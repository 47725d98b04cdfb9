"""Subscribe filters: by meter, by model and by minimum severity of the selected models."""

from __future__ import annotations

from gateway.publisher import matches, project
from gridtwin.v1 import assessment_pb2, gateway_pb2


def _assessment(meter: str, anomaly: int, imbalance: int) -> assessment_pb2.Assessment:
    a = assessment_pb2.Assessment(meter_id=meter)
    a.voltage_anomaly.info.severity = anomaly
    a.phase_imbalance.info.severity = imbalance
    return a


def test_meter_filter():
    request = gateway_pb2.SubscribeRequest(meter_ids=["m1"])
    assert matches(_assessment("m1", 1, 1), request)
    assert not matches(_assessment("m2", 1, 1), request)


def test_severity_applies_to_the_selected_models_only():
    request = gateway_pb2.SubscribeRequest(models=["phase_imbalance"], min_severity=assessment_pb2.WARNING)
    assert not matches(_assessment("m", assessment_pb2.CRITICAL, assessment_pb2.NORMAL), request)
    assert matches(_assessment("m", assessment_pb2.NORMAL, assessment_pb2.WARNING), request)
    everything = gateway_pb2.SubscribeRequest(min_severity=assessment_pb2.CRITICAL)
    assert matches(_assessment("m", assessment_pb2.CRITICAL, assessment_pb2.NORMAL), everything)
    assert not matches(_assessment("m", assessment_pb2.WARNING, assessment_pb2.WARNING), everything)


def test_projection_keeps_only_the_selected_fields():
    projected = project(_assessment("m", 2, 3), ["phase_imbalance"])
    assert projected.HasField("phase_imbalance") and not projected.HasField("voltage_anomaly")
    assert project(_assessment("m", 2, 3), []).HasField("voltage_anomaly")
