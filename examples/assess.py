"""Call the gateway from Python: one reading, a batch, and the model catalogue.

.venv/bin/python examples/assess.py [host:port]      # default 127.0.0.1:50051

With auth on, export GRIDTWIN_TOKEN=<token> (an analyst or higher); with mutual TLS, the
GRIDTWIN_TLS_* variables of a mesh identity (e.g. var/certs/client.*).
"""

from __future__ import annotations

import sys
import time

import grpc
from google.protobuf.json_format import MessageToJson
from grpc_status import rpc_status

from gridtwin.core.errors import field_violations
from gridtwin.security.client import call_metadata, gateway_credentials
from gridtwin.v1 import gateway_pb2_grpc, reading_pb2, services_pb2


def reading(meter_id: str, voltage_v: float = 231.0) -> reading_pb2.Reading:
    r = reading_pb2.Reading(meter_id=meter_id, frequency=50.01, nominal_voltage=230, nominal_frequency=50)
    r.timestamp.GetCurrentTime()
    r.voltage.a, r.voltage.b, r.voltage.c = voltage_v, voltage_v * 0.99, voltage_v * 1.01  # V
    r.current.a, r.current.b, r.current.c = 12.0, 10.5, 11.2  # A
    r.active_power.a, r.active_power.b, r.active_power.c = 2630.0, 2280.0, 2470.0  # W
    r.reactive_power.a, r.reactive_power.b, r.reactive_power.c = 610.0, 540.0, 580.0  # var
    return r


def main(address: str) -> None:
    credentials = gateway_credentials()
    channel = (
        grpc.insecure_channel(address) if credentials is None else grpc.secure_channel(address, credentials)
    )
    md = call_metadata()  # authorization: Bearer $GRIDTWIN_TOKEN, when set
    with channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        assessment = stub.Assess(reading("example-meter-1"), timeout=5, metadata=md)
        print(MessageToJson(assessment.phase_imbalance), MessageToJson(assessment.voltage_anomaly))
        print("stage timings (ms):", {t.stage: round(t.duration_ms, 2) for t in assessment.timings})

        bad = reading("example-meter-2")
        bad.frequency = 75.0
        try:
            stub.Assess(bad, timeout=5, metadata=md)
        except grpc.RpcError as err:
            print(
                "rejected:",
                err.code().name,
                [(v.field, v.description) for v in field_violations(rpc_status.from_call(err))],
            )

        batch = reading_pb2.ReadingBatch(readings=[reading(f"example-meter-{i}") for i in range(3, 8)])
        time.sleep(0.01)
        result = stub.AssessBatch(batch, timeout=10, metadata=md)
        print("batch:", [(a.meter_id, a.status.code) for a in result.assessments])

        for model in stub.ListModels(services_pb2.ListModelsRequest(), timeout=5, metadata=md).models:
            print(
                f"{model.module:>12} {model.name:<24} {services_pb2.RegisteredModel.DESCRIPTOR.fields_by_name['status'].enum_type.values_by_number[model.status].name:<12} {model.version or model.detail}"
            )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
