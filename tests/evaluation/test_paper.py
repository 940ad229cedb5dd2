from openparts.evaluation.paper import TABLE2, TABLE5, paper_setting, table5_rows


def test_settings_match_only_the_papers_datasets() -> None:
    assert paper_setting({"source": "partimagenet"}) == "partimagenet"
    assert paper_setting({"source": "pascal-part", "part_grouping": "58"}) == "pascal-part-58"
    assert paper_setting({"source": "pascal-part", "part_grouping": "raw"}) is None
    assert paper_setting({"source": "car-parts"}) is None


def test_published_numbers_are_the_papers() -> None:
    assert TABLE2["partimagenet"]["pre+post-perfect"] == {"AP": 87.61, "AP50": 96.19}
    assert TABLE2["pascal-part-58"]["none"]["AP"] == 9.48
    assert TABLE5["imperfect"]["OPS"]["mIoU"] == 64.71
    assert table5_rows("partimagenet", "perfect")["felzenszwalb"]["fwIoU"] == 88.90
    assert table5_rows("pascal-part-58", "perfect") == {}
