import pytest

from ucmail_ext.mail.render import (
    CompiledTemplate,
    Rendered,
    compile_template,
    render,
    render_html,
    variables_in,
)


def test_placeholders_are_replaced_by_their_values():
    result = render("Hello ${name}, your code is ${code}.", {"name": "Ann", "code": "42"})
    assert result == Rendered("Hello Ann, your code is 42.", [])


def test_a_placeholder_used_twice_is_replaced_twice():
    assert render("${a}-${a}", {"a": "x"}).text == "x-x"


def test_variable_names_are_case_sensitive():
    result = render("${Name} ${name}", {"name": "ann"})
    assert result.text == "${Name} ann"
    assert result.missing == ["Name"]


def test_missing_variables_stay_in_the_text_and_are_listed_once_in_order():
    result = render("${b} ${a} ${b} ${c}", {"c": "C"})
    assert result.text == "${b} ${a} ${b} C"
    assert result.missing == ["b", "a"]


def test_double_dollar_is_a_literal_dollar():
    assert render("Price: $$5 and $${name}", {"name": "x"}).text == "Price: $5 and ${name}"


@pytest.mark.parametrize(
    "template",
    ["costs $5", "$name alone", "${ spaced }", "${1abc}", "${}", "trailing $", "${unclosed", "$-"],
)
def test_a_dollar_that_is_not_a_placeholder_stays_as_written(template):
    result = render(template, {"name": "x", "spaced": "x", "unclosed": "x"})
    assert result == Rendered(template, [])


def test_values_are_not_expanded_again():
    result = render("${a}", {"a": "${b}", "b": "secret"})
    assert result.text == "${b}"
    assert result.missing == []


def test_an_empty_value_is_supplied_not_missing():
    assert render("[${a}]", {"a": ""}) == Rendered("[]", [])


def test_non_string_values_are_converted_to_text():
    assert render("${n}", {"n": 7}).text == "7"  # type: ignore[dict-item]


def test_template_without_placeholders_renders_as_is():
    assert render("plain text", {}) == Rendered("plain text", [])
    assert render("", {}) == Rendered("", [])


def test_adjacent_placeholders():
    assert render("${a}${b}${a}", {"a": "1", "b": "2"}).text == "121"


def test_unicode_and_multiline_values_are_kept():
    result = render("Dear ${n},\n${body}", {"n": "Zoë ✓", "body": "line 1\nline 2"})
    assert result.text == "Dear Zoë ✓,\nline 1\nline 2"


def test_only_ascii_identifiers_are_placeholders():
    assert render("${naïve}", {"naïve": "x"}).text == "${naïve}"


def test_render_html_escapes_hostile_values():
    result = render_html(
        '<p title="${t}">${v}</p>', {"t": '" onmouseover="x', "v": "<script>alert(1)</script>&"}
    )
    assert result.text == (
        '<p title="&quot; onmouseover=&quot;x">&lt;script&gt;alert(1)&lt;/script&gt;&amp;</p>'
    )


def test_render_html_leaves_the_template_markup_alone():
    assert render_html("<b>${a}</b> &amp; $$", {"a": "x"}).text == "<b>x</b> &amp; $"


def test_render_html_reports_missing_variables():
    result = render_html("<p>${a}</p>", {})
    assert result == Rendered("<p>${a}</p>", ["a"])


def test_variables_in_lists_names_in_order_of_first_appearance():
    template = "${greeting} ${name}, $${notavar} ${name} ${Name} $x ${ bad }"
    assert variables_in(template) == ["greeting", "name", "Name"]


def test_variables_in_empty_template():
    assert variables_in("") == []


def test_compile_template_splits_once_and_renders_many_times():
    compiled = compile_template("Hi ${name}!")
    assert isinstance(compiled, CompiledTemplate)
    assert compiled.render({"name": "A"}).text == "Hi A!"
    assert compiled.render({"name": "B"}).text == "Hi B!"
    assert compiled.render({}).missing == ["name"]
    assert compiled.render_html({"name": "<i>"}).text == "Hi &lt;i&gt;!"


def test_compiled_template_renders_many_recipients_from_one_compile():
    compiled = compile_template(
        "Dear ${first} ${last},\n\nYour order ${order} ships on ${date}.\n" * 10
    )
    for n in range(1_000):
        variables = {"first": "Ann", "last": f"Lee{n}", "order": "A-1", "date": "Monday"}
        assert f"Dear Ann Lee{n}," in compiled.render(variables).text
