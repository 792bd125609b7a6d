from ftlab.core.contamination import contaminated, decontaminate


def row(i, text):
    return {"id": i, "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]}


def test_copied_sentence_is_caught_and_templates_alone_are_not():
    sentence = "the quick brown fox jumps over the lazy dog near the old river bank today"
    train = [row("t1", f"Quote this: {sentence}"), row("t2", "What is the last word of this sentence? red sky")]
    test = [row("x1", f"Please repeat: {sentence}"), row("x2", "What is the last word of this sentence? blue sea")]
    assert contaminated(train, test) == ["x1"]
    kept, removed = decontaminate(train, test)
    assert [r["id"] for r in kept] == ["x2"] and removed == ["x1"]


def test_short_rows_compare_whole_text():
    assert contaminated([row("a", "Hello there")], [row("b", "hello, there!"), row("c", "hi")]) == ["b"]
