from ftlab.core.corpus import parse_wordnet_line

# Two lines in WordNet 3.0's data-file format (synset header, pointers, then " | " and the gloss).
NOUN = ("02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 023 @ 02083346 n 0000 | a member of the genus "
        "Canis (probably descended from the common wolf); \"the dog barked all night\"  ")
ADJ = "00001740 00 a 01 able(a) 0 005 = 05207437 n 0000 | (usually followed by `to') having the necessary means  "


def test_wordnet_line_gives_lemmas_definition_and_examples():
    s = parse_wordnet_line(NOUN, "n")
    assert s["lemmas"] == ["dog", "domestic dog", "Canis familiaris"]
    assert s["definition"] == "a member of the genus Canis (probably descended from the common wolf)"
    assert s["examples"] == ["the dog barked all night"]


def test_adjective_markers_are_stripped_and_licence_lines_skipped():
    assert parse_wordnet_line(ADJ, "a")["lemmas"] == ["able"]
    assert parse_wordnet_line("  1 This software and database is being provided", "n") is None
