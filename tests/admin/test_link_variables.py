"""A ``${var}`` that starts a link or image URL only ever yields http(s) or mailto."""

from __future__ import annotations

import pytest
from flask import Flask

from ucmail_ext.mail.render import render, render_html
from ucmail_ext.services.admin.templates import sanitize_template_html

# As an admin would write it; saved through the template sanitizer like every template.
TEMPLATE = (
    '<p>Hello ${first_name}, <a href="${link}">see your offer</a>'
    ' <img src="${banner}" alt="banner"> <a href="https://shop.example.com/o/${code}">or here</a>'
    ' <a href="mailto:${email}">mail us</a></p>'
)


def dialer_row(**values: str) -> dict[str, str]:
    """The variables one CSV row carries to the renderer (mail/csvlist -> dialer compose)."""
    row = {
        "first_name": "Ana",
        "link": "https://shop.example.com/offer?id=7&src=mail",
        "banner": "https://cdn.example.com/b.png",
        "code": "A7",
        "email": "shop@example.com",
    }
    row.update(values)
    return row


@pytest.fixture
def stored(app_ctx: Flask) -> str:
    return sanitize_template_html(TEMPLATE)


@pytest.mark.parametrize(
    "evil",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "//evil.example.com/x",
    ],
)
def test_a_link_variable_that_is_not_http_or_mailto_becomes_hash(stored: str, evil: str) -> None:
    html = render_html(stored, dialer_row(link=evil, banner=evil)).text

    assert 'href="#"' in html and 'src="#"' in html
    assert "script:" not in html.lower() and "data:" not in html


def test_http_https_and_mailto_values_are_kept_escaped(stored: str) -> None:
    html = render_html(stored, dialer_row(banner="http://cdn.example.com/b.png")).text

    assert 'href="https://shop.example.com/offer?id=7&amp;src=mail"' in html
    assert 'src="http://cdn.example.com/b.png"' in html
    assert render_html(stored, dialer_row(link="MAILTO:a@example.com")).text.count("#") == 0


def test_a_variable_after_a_fixed_scheme_or_in_text_is_left_as_data(stored: str) -> None:
    html = render_html(stored, dialer_row(code="javascript:x", first_name="javascript:y")).text

    # The template fixes the scheme there: the value is only a path, and text is text.
    assert 'href="https://shop.example.com/o/javascript:x"' in html
    assert "Hello javascript:y," in html


def test_plain_text_rendering_is_unchanged(stored: str) -> None:
    assert "javascript:alert(1)" in render(stored, dialer_row(link="javascript:alert(1)")).text
