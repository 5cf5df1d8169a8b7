"""Game state: consequences, clamping, hashing."""

from ghost_story_factory.pregenerator.state import (
    NIGHT_END,
    GameState,
    apply,
    parse_consequences,
)


def test_consequences_apply_and_clamp() -> None:
    state = GameState(scene="hall", pr=95, gr=2, wf=0, time="03:55", inventory=("torch",))
    consequences, ignored = parse_consequences(
        {
            "PR": 20,
            "GR": -10,
            "WF": 7,
            "minutes": 30,
            "scene": "roof",
            "flags": [{"name": "saw_ghost", "value": True}],
            "items": ["torch", "key"],
        }
    )
    after = apply(state, consequences)
    assert ignored == 0
    assert (after.pr, after.gr, after.wf) == (100, 0, 7)
    assert after.time == NIGHT_END  # clamped to the night's end
    assert after.scene == "roof"
    assert after.flags == {"saw_ghost": True}
    assert after.inventory == ("torch", "key")  # no duplicates, order kept
    assert after.night_over


def test_malformed_values_are_ignored_and_counted_never_raised() -> None:
    consequences, ignored = parse_consequences(
        {
            "PR": "lots",
            "GR": True,
            "WF": 3.5,
            "time": "soon",
            "scene": 7,
            "flags": "x",
            "items": [None, "", "coin"],
        }
    )
    assert ignored == 8
    assert (consequences.pr, consequences.gr, consequences.wf) == (0, 0, 0)
    assert consequences.minutes == 5  # time still moves forward
    assert consequences.items == ("coin",)
    assert parse_consequences("not a dict")[1] == 1


def test_time_always_moves_forward() -> None:
    for raw in (0, -10, "+0", None, "soon"):
        consequences, _ = parse_consequences({"minutes": raw})
        assert consequences.minutes > 0
    assert parse_consequences({"time": "+12min"})[0].minutes == 12  # the version-1 form is still read
    assert parse_consequences({"minutes": 500})[0].minutes == 60  # one choice never takes the whole night


def test_hash_is_canonical() -> None:
    a = GameState(scene="s", flags={"a": 1, "b": True}, inventory=("x", "y"))
    b = GameState(scene="s", flags={"b": True, "a": 1}, inventory=("y", "x"))
    assert a.state_hash() == b.state_hash()
    assert a.state_hash() != GameState(scene="s", pr=6, flags=a.flags, inventory=a.inventory).state_hash()
    assert GameState.from_dict(a.to_dict()) == GameState(
        scene="s", flags={"a": 1, "b": True}, inventory=("x", "y")
    )
