"""VideoPlan: who receives video, from tiles, subscriptions and times (pure, no sockets)."""

from __future__ import annotations

from kiosk.media.videoplan import Receiving, Switch, VideoPlan, VideoSettings


def test_screen_unknown_means_video_for_everyone() -> None:
    plan = VideoPlan()
    assert not plan.known
    assert plan.wants_video("a", 0.0)
    assert plan.switches(0.0, {"a": "audio"}) == [Switch("a", True)]


def test_only_tiled_participants_get_video() -> None:
    plan = VideoPlan()
    plan.observe(0.0, ["a", "b"])
    assert plan.wants_video("a", 0.0)
    assert not plan.wants_video("c", 0.0)
    assert plan.switches(0.0, {"a": "video", "b": "video", "c": "audio"}) == []


def test_gaining_a_tile_promotes_in_screen_order() -> None:
    plan = VideoPlan()
    plan.observe(0.0, ["a"])
    plan.observe(1.0, ["d", "a", "c"])
    out = plan.switches(1.0, {"a": "video", "c": "audio", "d": "audio", "e": "audio"})
    assert out == [Switch("d", True), Switch("c", True)]


def test_hysteresis_keeps_video_for_keep_seconds_then_drops_when_quiet() -> None:
    plan = VideoPlan(VideoSettings(keep_seconds=10.0, max_keep_seconds=60.0))
    plan.observe(0.0, ["a", "b"])
    plan.observe(1.0, ["b"])  # a lost its tile at 1.0 (last seen with one at 0.0)
    receiving: dict[str, Receiving] = {"a": "video", "b": "video"}
    assert plan.switches(9.9, receiving, quiet={"a"}) == []
    assert plan.switches(10.1, receiving, quiet={"a"}) == [Switch("a", False)]


def test_a_speaking_participant_keeps_video_until_max_keep() -> None:
    plan = VideoPlan(VideoSettings(keep_seconds=10.0, max_keep_seconds=30.0))
    plan.observe(0.0, ["a"])
    plan.observe(0.5, [])
    assert plan.switches(20.0, {"a": "video"}, quiet=()) == []
    assert plan.switches(31.0, {"a": "video"}, quiet=()) == [Switch("a", False)]


def test_regaining_the_tile_inside_the_hysteresis_causes_no_switch() -> None:
    plan = VideoPlan(VideoSettings(keep_seconds=10.0))
    plan.observe(0.0, ["a"])
    plan.observe(2.0, ["b"])
    plan.observe(5.0, ["a"])
    # a lost its tile from 0 to 5 s: no drop; b, tiled last at 2.0, goes 10 s after that
    assert plan.switches(11.9, {"a": "video", "b": "video"}, quiet={"a", "b"}) == []
    assert plan.switches(12.1, {"a": "video", "b": "video"}, quiet={"a", "b"}) == [
        Switch("b", False)
    ]


def test_receive_all_never_drops_video() -> None:
    plan = VideoPlan(VideoSettings(receive_all=True))
    plan.observe(0.0, [])
    assert plan.wants_video("a", 100.0)
    assert plan.switches(100.0, {"a": "video", "b": "audio"}, quiet={"a"}) == [Switch("b", True)]


def test_switches_in_flight_are_capped_and_promotions_go_first() -> None:
    plan = VideoPlan(VideoSettings(keep_seconds=0.0, max_switches=2))
    plan.observe(0.0, ["x"])
    plan.observe(1.0, ["a", "b", "c"])
    receiving: dict[str, Receiving] = {"x": "video", "a": "audio", "b": "audio", "c": "audio"}
    out = plan.switches(5.0, receiving, quiet={"x"})
    assert out == [Switch("a", True), Switch("b", True)]
    receiving["a"] = "switching"
    assert plan.switches(5.0, receiving, quiet={"x"}) == [Switch("b", True)]
    receiving["b"] = "switching"
    assert plan.switches(5.0, receiving, quiet={"x"}) == []


def test_video_subscribed_before_the_screen_knew_counts_from_then() -> None:
    plan = VideoPlan(VideoSettings(keep_seconds=10.0))
    plan.observe(100.0, ["a"])
    assert plan.switches(105.0, {"a": "video", "z": "video"}, quiet={"z"}) == []
    assert plan.switches(110.5, {"a": "video", "z": "video"}, quiet={"z"}) == [Switch("z", False)]
