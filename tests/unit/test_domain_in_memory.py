"""The domain on eventsourcing's in-memory persistence (no server): the aggregates and their
events' versions, the resource lifecycle behind /changes and its Seq values, and the matching
builder that C-FIND (and /tools/find) use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.ingest import Ingestor
from adapters.storage import StorageArea
from domain.aggregates import AGGREGATES, Instance, RemoteNode, Resource, event_classes
from domain.archive import Archive, StoreStatus
from domain.identity import instance_aggregate_id, remote_node_aggregate_id
from domain.levels import INSTANCE, PATIENT, SERIES, STUDY
from domain.origin import Channel, Origin
from projections.changes.projection import SEQ_STRIDE, _change_rows, order_for_orthanc
from projections.hierarchy.matching import (
    Constraint,
    ResourceQuery,
    build_sql,
    condition,
    constraints_for,
    like_pattern,
)
from projections.lifecycle import Kind, Lifecycle, Transition
from tests.support.dicom_factory import make_instance

ORIGIN = Origin(Channel.REST, remote_ip="127.0.0.1")


@pytest.fixture
def archive() -> Iterator[Archive]:
    app = Archive(group_commit=False)  # no env: eventsourcing's in-memory persistence
    yield app
    app.close()


@pytest.fixture
def ingestor(archive: Archive, tmp_path: Path) -> Ingestor:
    return Ingestor(archive, StorageArea(tmp_path / "storage"))


def log_of(archive: Archive) -> list[tuple[int, Any]]:
    notifications = archive.recorder.select_notifications(start=1, limit=1000)
    return [
        (
            n.id,
            archive.mapper.to_domain_event(
                StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
            ),
        )
        for n in notifications
    ]


# --- events and aggregates --------------------------------------------------------------------


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.__name__)
def test_every_event_class_declares_its_version(aggregate: type[Aggregate]) -> None:
    classes = event_classes(aggregate)
    assert classes
    for cls in classes:
        # eventsourcing redefines each declared event class as a subclass of itself
        declared = [base for base in cls.__mro__ if base.__qualname__ == cls.__qualname__]
        assert any("class_version" in vars(base) for base in declared), cls.__qualname__


def test_an_instance_is_stored_once_deleted_and_stored_again(
    archive: Archive, ingestor: Ingestor
) -> None:
    data = make_instance("P1", "1.5.1", "1.5.1.1", "1.5.1.1.1")
    first = ingestor.ingest(data, ORIGIN)
    assert first.status is StoreStatus.SUCCESS and first.position == 1
    assert ingestor.ingest(data, ORIGIN).status is StoreStatus.ALREADY_STORED
    assert archive.delete_instances([first.instance_id], ORIGIN) == 2
    again = ingestor.ingest(data, ORIGIN)
    assert again.status is StoreStatus.SUCCESS and again.position == 3
    instance: Instance = archive.repository.get(instance_aggregate_id(first.instance_id))
    assert instance.live and instance.version == 3
    kinds = [type(event) for _, event in log_of(archive)]
    assert kinds == [Instance.Stored, Instance.Deleted, Instance.StoredAgain]


def test_a_resource_stabilizes_once_per_last_stored_instance(
    archive: Archive, ingestor: Ingestor
) -> None:
    stored = ingestor.ingest(make_instance("P1", "1.5.2", "1.5.2.1", "1.5.2.1.1"), ORIGIN)
    assert stored.position is not None
    quiet = [(stored.series_id, "Series", stored.position)]
    assert archive.stabilize(quiet) == 3  # the resource's Registered, then Stabilized
    assert archive.stabilize(quiet) is None  # nothing new under it: no second event
    resource: Resource = archive.repository.get(Resource.create_id(stored.series_id))
    assert resource.stable_as_of == stored.position
    assert resource.revision == resource.version == 2  # Registered, Stabilized


def test_events_under_the_old_resource_stability_topic_load_as_resource_events(
    archive: Archive, ingestor: Ingestor
) -> None:
    stored = ingestor.ingest(make_instance("P1", "1.5.3", "1.5.3.1", "1.5.3.1.1"), ORIGIN)
    archive.stabilize([(stored.study_id, "Study", stored.position or 0)])
    resource: Resource = archive.repository.get(Resource.create_id(stored.study_id))
    event = resource.collect_events() or list(archive.repository.event_store.get(resource.id))
    stabilized = next(e for e in event if isinstance(e, Resource.Stabilized))
    new = archive.mapper.to_stored_event(stabilized)
    old_topic = new.topic.replace(
        "domain.aggregates:Resource.", "domain.aggregates:ResourceStability."
    )
    assert old_topic != new.topic
    loaded = archive.mapper.to_domain_event(
        StoredEvent(new.originator_id, new.originator_version, old_topic, new.state)
    )
    assert isinstance(loaded, Resource.Stabilized) and loaded.as_of == stored.position


def test_a_version_1_node_definition_is_upcast_without_its_secrets(archive: Archive) -> None:
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-01T10:00:00+00:00"},
        "originator_topic": get_topic(RemoteNode),
        "kind": "peer",
        "name": "remote",
        "configuration": {
            "Url": "http://127.0.0.1:8042/",
            "Username": "bob",
            "Password": "secret",
            "HttpHeaders": {"X-Token": "also-secret"},
        },
        "source": "rest",
        "origin": ORIGIN.to_dict(),
    }
    stored = StoredEvent(
        remote_node_aggregate_id("peer", "remote"),
        1,
        get_topic(RemoteNode.Defined),
        archive.mapper.transcoder.encode(state),
    )
    event = archive.mapper.to_domain_event(stored)
    assert isinstance(event, RemoteNode.Defined)
    assert event.configuration == {  # the header's name is public, its value is not
        "Url": "http://127.0.0.1:8042/",
        "Username": "bob",
        "HttpHeaders": ["X-Token"],
    }
    assert event.credentials == ["HttpHeaders", "Password"]
    rewritten = archive.mapper.to_stored_event(event)
    assert b"secret" not in rewritten.state


# --- the lifecycle and Seq --------------------------------------------------------------------


def lifecycle_of(archive: Archive) -> list[list[Transition]]:
    lifecycle = Lifecycle({})
    return [lifecycle.apply(position, event) for position, event in log_of(archive)]


def kinds(transitions: list[Transition]) -> list[tuple[str, int]]:
    return [(t.kind.value, t.level) for t in transitions]


def test_resources_come_and_go_with_their_instances(archive: Archive, ingestor: Ingestor) -> None:
    one = ingestor.ingest(make_instance("P1", "1.5.4", "1.5.4.1", "1.5.4.1.1"), ORIGIN)
    two = ingestor.ingest(make_instance("P1", "1.5.4", "1.5.4.1", "1.5.4.1.2"), ORIGIN)
    archive.delete_instances([one.instance_id], ORIGIN)
    archive.stabilize([(two.series_id, "Series", one.position or 0)])  # stale: not stable
    archive.stabilize([(two.series_id, "Series", two.position or 0)])
    archive.delete_instances([two.instance_id], ORIGIN)
    steps = lifecycle_of(archive)
    created, updated, shrunk, removed = "created", "updated", "shrunk", "removed"
    assert kinds(steps[0]) == [
        (created, PATIENT),
        (created, STUDY),
        (created, SERIES),
        (created, INSTANCE),
    ]
    assert kinds(steps[1]) == [
        (updated, PATIENT),
        (updated, STUDY),
        (updated, SERIES),
        (created, INSTANCE),
    ]
    assert kinds(steps[2]) == [
        (removed, INSTANCE),
        (shrunk, SERIES),
        (shrunk, STUDY),
        (shrunk, PATIENT),
    ]
    assert steps[3] == steps[4] == []  # the resource registered; stable as of a stale position
    assert kinds(steps[5]) == [("stabilized", SERIES)]
    assert kinds(steps[6]) == [
        (removed, INSTANCE),
        (removed, SERIES),
        (removed, STUDY),
        (removed, PATIENT),
    ]


def test_seq_values_derive_from_the_log_position_in_orthancs_order(
    archive: Archive, ingestor: Ingestor
) -> None:
    ingestor.ingest(make_instance("P1", "1.5.5", "1.5.5.1", "1.5.5.1.1"), ORIGIN)
    [first] = lifecycle_of(archive)
    rows = _change_rows(7, order_for_orthanc(first))
    assert [row[0] for row in rows] == [7 * SEQ_STRIDE + n for n in range(4)]
    assert [row[1] for row in rows] == ["NewInstance", "NewSeries", "NewStudy", "NewPatient"]
    assert Kind.UPDATED not in {t.kind for t in first}


# --- the matching builder ---------------------------------------------------------------------


def test_constraints_follow_the_value_representation() -> None:
    assert constraints_for("PatientName", "PN", "  ", STUDY) == []
    [name] = constraints_for("PatientName", "PN", "doe*", STUDY)
    assert (name.kind, name.level, name.case_sensitive) == ("wildcard", PATIENT, False)
    [anything] = constraints_for("PatientSex", "CS", "*", STUDY)
    assert anything.kind == "any"
    [dates] = constraints_for("StudyDate", "DA", "20200101-", STUDY)
    assert (dates.kind, dates.values) == ("range", ("20200101", ""))
    [uids] = constraints_for("StudyInstanceUID", "UI", "1.2\\1.3", STUDY)
    assert (uids.kind, uids.values, uids.case_sensitive) == ("list", ("1.2", "1.3"), True)
    [modalities] = constraints_for("ModalitiesInStudy", "CS", "MR\\CT\\MR", STUDY)
    assert (modalities.keyword, modalities.level, modalities.values) == (
        "Modality",
        SERIES,
        ("CT", "MR"),
    )
    [uid] = constraints_for("SOPInstanceUID", "UI", "1.2*", INSTANCE)
    assert uid.kind == "equal"  # UI takes no wildcards


def test_wildcards_become_escaped_like_patterns() -> None:
    assert like_pattern("a_b%c*?\\") == "a\\_b\\%c%_\\\\"
    sql, params = condition("r", Constraint("PatientName", PATIENT, "wildcard", ("doe*",), False))
    assert sql == "upper((r.main_tags->>'PatientName')) LIKE %s ESCAPE '\\'"
    assert params == ["DOE%"]
    sql, params = condition("r", Constraint("PatientSex", PATIENT, "any", (), True))
    assert (sql, params) == ("(r.main_tags->>'PatientSex') IS NOT NULL", [])  # present only
    sql, params = condition("r", Constraint("StudyDate", STUDY, "range", ("", "2020"), True))
    assert (sql, params) == ("(r.main_tags->>'StudyDate') <= %s", ["2020"])


def test_no_user_text_reaches_the_statement() -> None:
    with pytest.raises(ValueError):
        condition("r", Constraint("x'; DROP TABLE y; --", STUDY, "equal", ("v",), True))


def test_a_study_query_joins_its_patient_and_requires_a_matching_series() -> None:
    query = ResourceQuery(
        STUDY,
        (
            *constraints_for("PatientID", "LO", "P1", STUDY),
            *constraints_for("ModalitiesInStudy", "CS", "CT", STUDY),
        ),
    )
    sql, params = build_sql(query)
    assert "JOIN hierarchy.resources a0 ON a0.id = r.patient_id" in sql
    assert "(a0.main_tags->>'PatientID') = %s" in sql
    assert "EXISTS (SELECT 1 FROM hierarchy.resources" in sql
    assert sql.endswith("ORDER BY r.created_position")
    assert params[0] == STUDY and "P1" in params and "CT" in params
