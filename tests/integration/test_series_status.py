"""/series/{id} Status and ExpectedNumberOfInstances, and the CompletedSeries change, as
Orthanc 1.10.1 computes them: the expected number comes from ImagesInAcquisition x
NumberOfTemporalPositions, NumberOfSlices x NumberOfTimeSlices or CardiacNumberOfImages, and
the status from the instances' IndexInSeries (InstanceNumber)."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.support.dicom_factory import make_instance
from tests.support.server import ChronicleProcess

ACQUISITION = {"ImagesInAcquisition": 3, "NumberOfTemporalPositions": 1}
SOP_NUMBERS = itertools.count(1)


def store(client: httpx.Client, series: str, number: int | None, **extra: Any) -> dict[str, Any]:
    data = make_instance(
        "SER-STATUS",
        "1.2.840.99.1",
        series,
        f"{series}.{next(SOP_NUMBERS)}",
        instance_number=number or 0,
        extra=extra,
    )
    answer = client.post("/instances", content=data)
    assert answer.status_code == 200, answer.text
    return answer.json()


def status(client: httpx.Client, series_id: str) -> tuple[Any, str]:
    body = client.get(f"/series/{series_id}").json()
    return body["ExpectedNumberOfInstances"], body["Status"]


def completed(client: httpx.Client) -> list[str]:
    changes = client.get("/changes", params={"limit": 1000}).json()["Changes"]
    return [c["ID"] for c in changes if c["ChangeType"] == "CompletedSeries"]


def test_a_series_becomes_complete_when_every_expected_index_is_there(
    server: ChronicleProcess,
) -> None:
    with server.client() as client:
        first = store(client, "1.2.840.99.1.1", 1, **ACQUISITION)
        series = first["ParentSeries"]
        store(client, "1.2.840.99.1.1", 2, **ACQUISITION)
        assert status(client, series) == (3, "Missing")
        assert completed(client) == []
        assert client.get(f"/series/{series}/metadata/ExpectedNumberOfInstances").text == "3"

        third = store(client, "1.2.840.99.1.1", 3, **ACQUISITION)
        assert status(client, series) == (3, "Complete")
        changes = client.get("/changes", params={"limit": 1000}).json()["Changes"]
        tail = [(c["ChangeType"], c["ID"], c["ResourceType"]) for c in changes[-2:]]
        assert tail == [
            ("NewInstance", third["ID"], "Instance"),
            ("CompletedSeries", series, "Series"),
        ]

        assert client.delete(f"/instances/{third['ID']}").status_code == 200
        assert status(client, series) == (3, "Missing")
        store(client, "1.2.840.99.1.1", 3, **ACQUISITION)
        assert completed(client) == [series, series]


def test_duplicate_or_out_of_range_indexes_make_a_series_inconsistent(
    server: ChronicleProcess,
) -> None:
    with server.client() as client:
        duplicate = store(client, "1.2.840.99.1.2", 1, **ACQUISITION)["ParentSeries"]
        store(client, "1.2.840.99.1.2", 1, **ACQUISITION)
        assert status(client, duplicate) == (3, "Inconsistent")
        beyond = store(client, "1.2.840.99.1.3", 4, **ACQUISITION)["ParentSeries"]
        assert status(client, beyond) == (3, "Inconsistent")


def test_other_ways_of_saying_how_many_and_not_saying_it(server: ChronicleProcess) -> None:
    with server.client() as client:
        cardiac = store(client, "1.2.840.99.1.4", 1, CardiacNumberOfImages=2)["ParentSeries"]
        store(client, "1.2.840.99.1.4", 2, CardiacNumberOfImages=2)
        assert status(client, cardiac) == (2, "Complete")
        pet = store(client, "1.2.840.99.1.5", 1, NumberOfSlices=2, NumberOfTimeSlices=2)
        assert status(client, pet["ParentSeries"]) == (4, "Missing")
        alone = store(client, "1.2.840.99.1.6", 1, ImagesInAcquisition=1)["ParentSeries"]
        assert status(client, alone) == (None, "Unknown")  # without NumberOfTemporalPositions
        plain = store(client, "1.2.840.99.1.7", 1)["ParentSeries"]
        assert status(client, plain) == (None, "Unknown")
        meta = client.get(f"/series/{plain}/metadata/ExpectedNumberOfInstances")
        assert meta.status_code == 404
        assert completed(client) == [cardiac]
