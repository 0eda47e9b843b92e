"""The export's tag filter: which fields are left out, in record order, whatever it saw before."""

from __future__ import annotations

from marc8fast.flows.exporter import TagFilter


def test_default_filter_leaves_out_every_tag_that_is_not_three_digits() -> None:
    f = TagFilter()
    tags = ["001", "H01", "245", "H01", "STA", "24", "2450", "٢٤٥"]
    assert f.dropped_of(tags) == ["H01", "H01", "STA", "24", "2450", "٢٤٥"]
    assert f.dropped_of(["001", "245"]) == [], "tags seen and kept"
    assert f.dropped_of(["001", "H01", "245"]) == ["H01"], "tags seen and dropped"
    assert f.dropped_of([]) == []


def test_keep_and_drop_change_the_filter() -> None:
    f = TagFilter(r"[0-9]{3}|H0[0-9]", drop=["590"])
    assert f.dropped_of(["001", "H01", "H48", "590", "245"]) == ["H48", "590"]
    assert f.dropped_of(["001", "H01", "245"]) == []
    assert f.dropped_of(["590"]) == ["590"]


def test_the_answer_does_not_depend_on_the_order_tags_were_seen() -> None:
    records = [["001", "245"], ["STA", "001"], ["245", "H01", "650"], ["650", "650"]]
    fresh = [TagFilter().dropped_of(tags) for tags in records]
    shared = TagFilter()
    assert [shared.dropped_of(tags) for tags in records] == fresh
    assert [shared.dropped_of(tags) for tags in reversed(records)] == fresh[::-1]
