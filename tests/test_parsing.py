"""Tests for bot.core.parsing: folding, matching, amounts, dates and tracking codes."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.parsing import (
    CODE_ALPHABET,
    MAX_AMOUNT,
    DateFormatError,
    FutureDateError,
    fold,
    format_amount,
    format_code,
    format_date,
    matches,
    new_code,
    normalize_code,
    parse_amount,
    parse_date,
    parse_date_any,
)

TODAY = date(2026, 3, 5)


# --------------------------------------------------------------------------- fold / matches


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thành phố Hạ Long", "thanh pho ha long"),
        ("ĐÔNG TRIỀU", "dong trieu"),
        ("Đông Triều", "dong trieu"),
        ("đường", "duong"),
        ("  Quảng \t Ninh \n ", "quang ninh"),
        ("Nguyễn  Thị\u00a0Hương", "nguyen thi huong"),
        ("Ủy ban nhân dân", "uy ban nhan dan"),
        ("Phường Hồng Gai", "phuong hong gai"),
        ("CÔNG AN", "cong an"),
        ("", ""),
        ("   ", ""),
        ("plain ascii", "plain ascii"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("ha long", "Thành phố Hạ Long"),
        ("halong", "Thành phố Hạ Long"),
        ("HALONG", "Thành phố Hạ Long"),
        ("long ha", "Thành phố Hạ Long"),
        ("Hạ Long", "Thành phố Hạ Long"),
        ("tp ha long", "TP Hạ Long"),
        ("dong trieu", "Đông Triều"),
        ("dongtrieu", "Thị xã Đông Triều"),
        ("ĐÔNG TRIỀU", "Thị xã Đông Triều"),
        ("trieu", "Đông Triều"),
        ("uong bi", "Thành phố Uông Bí"),
        ("  ha   long  ", "Hạ Long"),
        ("cong an", "Công an phường Hồng Gai"),
    ],
)
def test_matches(query: str, text: str) -> None:
    assert matches(query, text) is True


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("", "Thành phố Hạ Long"),
        ("   ", "Thành phố Hạ Long"),
        ("cam pha", "Thành phố Hạ Long"),
        ("ha noi", "Thành phố Hạ Long"),
        ("long hai", "Thành phố Hạ Long"),
        ("dong trieu", "Uông Bí"),
        ("ha long bay", "Hạ Long"),
        ("x", ""),
    ],
)
def test_matches_rejects(query: str, text: str) -> None:
    assert matches(query, text) is False


# --------------------------------------------------------------------------- parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # millions, Vietnamese and abbreviations
        ("2 triệu", 2_000_000),
        ("2 trieu", 2_000_000),
        ("2 TRIỆU", 2_000_000),
        ("2tr", 2_000_000),
        ("2 tr", 2_000_000),
        ("2Tr", 2_000_000),
        ("2 củ", 2_000_000),
        # digits after the unit are its decimals
        ("2tr5", 2_500_000),
        ("2 tr 5", 2_500_000),
        ("1tr25", 1_250_000),
        ("2tr500", 2_500_000),
        ("2tr050", 2_050_000),
        ("5k5", 5_500),
        # decimals before a unit
        ("1,5 triệu", 1_500_000),
        ("1.5 triệu", 1_500_000),
        ("1,5tr", 1_500_000),
        ("0,5 triệu", 500_000),
        ("1.25 tỷ", 1_250_000_000),
        ("2.75 triệu", 2_750_000),
        # thousands
        ("500k", 500_000),
        ("500 K", 500_000),
        ("500K", 500_000),
        ("500 nghìn", 500_000),
        ("500 ngàn", 500_000),
        ("500 ngan", 500_000),
        ("500 nghin", 500_000),
        ("500 nghìn đồng", 500_000),
        ("5 trăm nghìn", 500_000),
        # billions
        ("1 tỷ", 1_000_000_000),
        ("1 ty", 1_000_000_000),
        ("1 tỉ", 1_000_000_000),
        ("1 ti", 1_000_000_000),
        ("1tỷ", 1_000_000_000),
        ("1 tỷ rưỡi", 1_500_000_000),
        ("1 tỷ 200 triệu", 1_200_000_000),
        ("1 tỷ 2", 1_200_000_000),
        # plain numbers with separators and currency
        ("2.000.000đ", 2_000_000),
        ("2.000.000 đ", 2_000_000),
        ("2.000.000 Đ", 2_000_000),
        ("2,000,000 VND", 2_000_000),
        ("2.000.000 VNĐ", 2_000_000),
        ("2000000", 2_000_000),
        ("2000000 vnd", 2_000_000),
        ("2 000 000 đồng", 2_000_000),
        ("2\u00a0000\u00a0000 đ", 2_000_000),
        ("2.000.000 ₫", 2_000_000),
        ("2.000.000\u00a0₫", 2_000_000),
        ("₫2,000,000", 2_000_000),
        ("VND 2,000,000", 2_000_000),
        ("1.500", 1_500),
        ("1,500", 1_500),
        ("1.500 triệu", 1_500_000_000),
        ("150000", 150_000),
        # English
        ("2 million", 2_000_000),
        ("2 millions", 2_000_000),
        ("1.5m", 1_500_000),
        ("500 thousand", 500_000),
        ("5 hundred thousand", 500_000),
        ("1.2 billion", 1_200_000_000),
        ("1.2bn", 1_200_000_000),
        # halves and compounds
        ("3 triệu rưỡi", 3_500_000),
        ("3 trieu ruoi", 3_500_000),
        ("3tr rưỡi", 3_500_000),
        ("2 triệu 500", 2_500_000),
        ("2 triệu 500 nghìn", 2_500_000),
        ("2 triệu 500 ngàn đồng", 2_500_000),
        ("2 triệu 5 trăm", 2_500_000),
        ("2 triệu 50000", 2_050_000),
        ("2 triệu 500 đồng", 2_500_000),
        # fillers and punctuation
        ("khoảng 2 triệu", 2_000_000),
        ("tầm 500k", 500_000),
        ("about 2 million", 2_000_000),
        ("around 500 thousand", 500_000),
        ("~2tr", 2_000_000),
        ("~ 2 triệu", 2_000_000),
        ("2 triệu.", 2_000_000),
        ("  2 triệu  ", 2_000_000),
        ("2 triệu khoảng", 2_000_000),
        # the upper bound itself is still accepted
        ("10000 tỷ", MAX_AMOUNT),
    ],
)
def test_parse_amount(text: str, expected: int) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        "0 đồng",
        "0k",
        "-5",
        "-5 triệu",
        "abc",
        "không biết",
        "nhiều tiền",
        "triệu",
        "k",
        "đồng",
        "khoảng",
        "2,5",
        "1.5 đồng",
        "2.000.000,50",
        "2.000,000",
        "2.00.000",
        "1.2.3",
        "$500",
        "500 đô",
        "500 USD",
        "2 triệu và 500 nghìn",
        "2 nghìn 5 triệu",
        "2 triệu 3 triệu",
        "2 triệu 1500 nghìn",
        "1.5 triệu 200 nghìn",
        "3 rưỡi",
        "3 triệu rưỡi 200",
        "10001 tỷ",
        "100000000000000",
        "2 triệu 5 hello",
        "12/03/2026",
        "9" * 5000,
        "1," + "5" * 5000 + " triệu",
    ],
)
def test_parse_amount_rejects(text: str) -> None:
    assert parse_amount(text) is None


# --------------------------------------------------------------------------- format_amount


@pytest.mark.parametrize(
    ("amount", "locale", "expected"),
    [
        (2_000_000, "vi", "2.000.000\u00a0₫"),
        (500_000, "vi", "500.000\u00a0₫"),
        (1_250_000_000, "vi", "1.250.000.000\u00a0₫"),
        (999, "vi", "999\u00a0₫"),
        (2_000_000, "vi_VN", "2.000.000\u00a0₫"),
        (2_000_000, "en", "2,000,000 VND"),
        (500_000, "en", "500,000 VND"),
        (1_250_000_000, "en", "1,250,000,000 VND"),
        (2_000_000, "en_US", "2,000,000 VND"),
        (2_000_000, "en-GB", "2,000,000 VND"),
        (2_000_000, "fr", "2.000.000\u00a0₫"),
    ],
)
def test_format_amount(amount: int, locale: str, expected: str) -> None:
    assert format_amount(amount, locale) == expected


@pytest.mark.parametrize("locale", ["vi", "en"])
@pytest.mark.parametrize("amount", [1, 999, 500_000, 2_500_000, 1_200_000_000])
def test_format_amount_round_trips(amount: int, locale: str) -> None:
    assert parse_amount(format_amount(amount, locale)) == amount


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05/03/2026", date(2026, 3, 5)),
        ("5/3/2026", date(2026, 3, 5)),
        ("1/2/2026", date(2026, 2, 1)),
        ("01-02-2026", date(2026, 2, 1)),
        ("01.02.2026", date(2026, 2, 1)),
        ("01/02/26", date(2026, 2, 1)),
        ("31/12/25", date(2025, 12, 31)),
        ("31/12/2025", date(2025, 12, 31)),
        ("12/01/2026", date(2026, 1, 12)),  # day first: 12 January, not 1 December
        ("13/01/2020", date(2020, 1, 13)),
        (" 5 / 3 / 2026 ", date(2026, 3, 5)),
        ("ngày 5/3/2026", date(2026, 3, 5)),
        ("ngày 5 tháng 3 năm 2026", date(2026, 3, 5)),
        ("5 tháng 3", date(2026, 3, 5)),
        ("05/03/2026.", date(2026, 3, 5)),
        # no year: this year
        ("01/02", date(2026, 2, 1)),
        ("5/3", date(2026, 3, 5)),
        ("1.3", date(2026, 3, 1)),
        ("28-02", date(2026, 2, 28)),
        # leap years
        ("29/02/2024", date(2024, 2, 29)),
        ("29/02/2000", date(2000, 2, 29)),
        # words
        ("hôm nay", TODAY),
        ("Hôm nay", TODAY),
        ("hom nay", TODAY),
        ("today", TODAY),
        ("Today", TODAY),
        ("hôm qua", date(2026, 3, 4)),
        ("hom qua", date(2026, 3, 4)),
        ("yesterday", date(2026, 3, 4)),
        ("hôm kia", date(2026, 3, 3)),
        ("hom kia", date(2026, 3, 3)),
        ("HÔM KIA", date(2026, 3, 3)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


def test_parse_date_relative_words_cross_month_and_year() -> None:
    assert parse_date("hôm qua", date(2026, 3, 1)) == date(2026, 2, 28)
    assert parse_date("hôm kia", date(2024, 3, 1)) == date(2024, 2, 28)
    assert parse_date("hôm qua", date(2026, 1, 1)) == date(2025, 12, 31)


def test_parse_date_without_year_uses_todays_year() -> None:
    assert parse_date("31/12", date(2030, 12, 31)) == date(2030, 12, 31)
    assert parse_date("29/02", date(2024, 3, 1)) == date(2024, 2, 29)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "mai",
        "tomorrow",
        "31/02/2024",
        "29/02/2023",
        "30/02/2024",
        "31/04/2025",
        "00/01/2025",
        "01/00/2025",
        "32/01/2025",
        "01/13/2025",
        "5/3/202",
        "5/3/20260",
        "05/03-2026",
        "05/03/2026/01",
        "2026-03-05",
        "5/3/0001",
        "1/1/1899",
        "123/1/2025",
        "5 3 2026",
        "ngày",
        "9" * 5000,
    ],
)
def test_parse_date_rejects_bad_format(text: str) -> None:
    with pytest.raises(DateFormatError):
        parse_date(text, TODAY)


def test_parse_date_feb_29_without_year_in_common_year_is_bad_format() -> None:
    with pytest.raises(DateFormatError):
        parse_date("29/02", TODAY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06/03/2026", date(2026, 3, 6)),
        ("01/01/2027", date(2027, 1, 1)),
        ("6/3", date(2026, 3, 6)),  # this year's date in the future, not last year's
        ("31/12", date(2026, 12, 31)),
        ("01/01/99", date(2099, 1, 1)),
    ],
)
def test_parse_date_rejects_future(text: str, expected: date) -> None:
    with pytest.raises(FutureDateError) as info:
        parse_date(text, TODAY)
    assert info.value.date == expected


def test_date_errors_are_value_errors() -> None:
    assert issubclass(DateFormatError, ValueError)
    assert issubclass(FutureDateError, ValueError)
    assert not issubclass(FutureDateError, DateFormatError)
    assert not issubclass(DateFormatError, FutureDateError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06/03/2026", date(2026, 3, 6)),
        ("01/01/2027", date(2027, 1, 1)),
        ("6/3", date(2026, 3, 6)),
        ("31/12", date(2026, 12, 31)),
        ("05/03/2026", TODAY),
        ("01/02/2026", date(2026, 2, 1)),
        ("hôm qua", date(2026, 3, 4)),
        ("today", TODAY),
    ],
)
def test_parse_date_any_allows_future(text: str, expected: date) -> None:
    assert parse_date_any(text, TODAY) == expected


@pytest.mark.parametrize("text", ["", "abc", "31/02/2024", "29/02/2023", "32/12"])
def test_parse_date_any_rejects_bad_format(text: str) -> None:
    with pytest.raises(DateFormatError):
        parse_date_any(text, TODAY)


@pytest.mark.parametrize(
    ("d", "locale", "expected"),
    [
        (date(2026, 3, 5), "vi", "05/03/2026"),
        (date(2026, 12, 31), "vi", "31/12/2026"),
        (date(2026, 3, 5), "vi_VN", "05/03/2026"),
        (date(2026, 3, 5), "en", "5 Mar 2026"),
        (date(2026, 12, 31), "en", "31 Dec 2026"),
        (date(2024, 2, 29), "en_US", "29 Feb 2024"),
        (date(2026, 3, 5), "fr", "05/03/2026"),
    ],
)
def test_format_date(d: date, locale: str, expected: str) -> None:
    assert format_date(d, locale) == expected


def test_format_date_vi_round_trips() -> None:
    d = date(2024, 2, 29)
    assert parse_date(format_date(d, "vi"), TODAY) == d


# --------------------------------------------------------------------------- tracking codes


def test_code_alphabet_excludes_look_alikes() -> None:
    assert len(CODE_ALPHABET) == 32
    assert len(set(CODE_ALPHABET)) == 32
    for ch in "0O1I":
        assert ch not in CODE_ALPHABET
    assert CODE_ALPHABET == CODE_ALPHABET.upper()


def test_new_code_shape() -> None:
    for _ in range(200):
        code = new_code()
        assert len(code) == 8
        assert set(code) <= set(CODE_ALPHABET)


def test_new_code_has_no_collisions_in_1000() -> None:
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000


def test_new_code_uses_the_whole_alphabet() -> None:
    seen = set("".join(new_code() for _ in range(1000)))
    assert seen == set(CODE_ALPHABET)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ABCDEFGH", "ABCDEFGH"),
        ("abcdefgh", "ABCDEFGH"),
        ("abcd efgh", "ABCDEFGH"),
        ("ABCD-EFGH", "ABCDEFGH"),
        ("abcd-efgh", "ABCDEFGH"),
        (" abcdefgh ", "ABCDEFGH"),
        ("AB CD - EF GH", "ABCDEFGH"),
        ("ABCD–EFGH", "ABCDEFGH"),
        ("ABCD_EFGH", "ABCDEFGH"),
        ("ＡＢＣＤ－ＥＦＧＨ", "ABCDEFGH"),
        ("2345-6789", "23456789"),
        ("zzzz9999", "ZZZZ9999"),
    ],
)
def test_normalize_code(text: str, expected: str) -> None:
    assert normalize_code(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ABCDEFG",
        "ABCDEFGHJ",
        "ABCD-EFG",
        "ABCDEFG0",
        "ABCDEFGO",
        "ABCDEFG1",
        "ABCDEFGI",
        "abcdefgi",
        "ABCD.EFGH",
        "ABCD/EFGH",
        "ÁBCDEFGH",
        "ABCDEFGĐ",
        "#ABCDEFGH",
    ],
)
def test_normalize_code_rejects(text: str) -> None:
    assert normalize_code(text) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ABCDEFGH", "ABCD-EFGH"),
        ("abcdefgh", "ABCD-EFGH"),
        ("ABCD-EFGH", "ABCD-EFGH"),
        ("23456789", "2345-6789"),
    ],
)
def test_format_code(code: str, expected: str) -> None:
    assert format_code(code) == expected


@pytest.mark.parametrize("code", ["", "ABC", "ABCDEFG0", "ABCDEFGHJ"])
def test_format_code_rejects_invalid(code: str) -> None:
    with pytest.raises(ValueError):
        format_code(code)


def test_codes_round_trip() -> None:
    for _ in range(200):
        code = new_code()
        shown = format_code(code)
        assert len(shown) == 9
        assert shown[4] == "-"
        assert normalize_code(shown) == code
        assert normalize_code(shown.lower()) == code
        assert normalize_code(shown.replace("-", " ")) == code
