import pytest

from ucmail_ext.mail.sanitize import (
    REMOTE_IMAGE_PLACEHOLDER,
    block_remote_images,
    rewrite_cid,
    sanitize_html,
)


def test_script_is_removed_with_its_content():
    assert sanitize_html("<p>hi</p><script>alert(1)</script>") == "<p>hi</p>"


def test_style_element_and_head_content_are_removed():
    html = "<html><head><title>T</title><style>p {}</style></head><body><p>x</p></body></html>"

    assert sanitize_html(html) == "<p>x</p>"


@pytest.mark.parametrize(
    "html",
    [
        '<img src="x.png" onerror="alert(1)">',
        '<p onclick="alert(1)" onmouseover="alert(2)">x</p>',
        '<body onload="alert(1)">x</body>',
        '<svg onload="alert(1)"><circle/></svg>',
    ],
)
def test_event_handler_attributes_are_removed(html):
    assert "alert" not in sanitize_html(html)


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "&#106;avascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "/ucmail/logout",
        "relative/path",
    ],
)
def test_dangerous_and_relative_links_lose_their_href(href):
    cleaned = sanitize_html(f'<a href="{href}">click</a>')

    assert "href" not in cleaned
    assert "click" in cleaned


def test_links_open_in_a_new_tab_without_opener_or_referrer():
    cleaned = sanitize_html('<a href="https://example.com/">site</a>')

    assert 'href="https://example.com/"' in cleaned
    assert 'rel="noopener noreferrer"' in cleaned
    assert 'target="_blank"' in cleaned


def test_in_page_anchor_and_mailto_links_are_kept():
    cleaned = sanitize_html('<a href="#top">up</a><a href="mailto:a@example.com">mail</a>')

    assert 'href="#top"' in cleaned
    assert 'href="mailto:a@example.com"' in cleaned


@pytest.mark.parametrize(
    "html",
    [
        '<iframe src="https://evil.example/"></iframe>',
        '<form action="https://evil.example/"><input name="pw"></form>',
        '<object data="x.swf"></object><embed src="x.swf">',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        '<base href="https://evil.example/">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
    ],
)
def test_active_and_navigating_elements_are_removed(html):
    assert "evil" not in sanitize_html(html)
    assert "x.swf" not in sanitize_html(html)


def test_basic_formatting_and_tables_are_kept():
    html = (
        '<table border="1" cellpadding="2"><tr><td bgcolor="#eee" colspan="2">'
        '<b>bold</b> <i>it</i> <u>u</u> <font color="red" face="Arial">f</font></td></tr></table>'
        "<ul><li>one</li></ul><blockquote>quoted</blockquote><br><hr>"
    )

    cleaned = sanitize_html(html)

    for fragment in (
        'border="1"',
        'cellpadding="2"',
        'bgcolor="#eee"',
        'colspan="2"',
        "<b>bold</b>",
        "<i>it</i>",
        "<u>u</u>",
        '<font color="red" face="Arial">',
        "<li>one</li>",
        "<blockquote>quoted</blockquote>",
    ):
        assert fragment in cleaned


def test_style_attribute_keeps_only_harmless_properties():
    cleaned = sanitize_html(
        '<p style="color: red; position: fixed; background: url(https://t.example/p.gif)">x</p>'
    )

    assert "color:red" in cleaned.replace(" ", "")
    assert "position" not in cleaned
    assert "t.example" not in cleaned


def test_inline_cid_and_data_images_are_kept():
    html = (
        '<img src="cid:logo@example.com" alt="logo"><img src="data:image/png;base64,iVBORw0KGgo=">'
    )

    cleaned = sanitize_html(html)

    assert 'src="cid:logo@example.com"' in cleaned
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned


def test_svg_data_image_is_dropped():
    assert "data:" not in sanitize_html('<img src="data:image/svg+xml;base64,PHN2Zz4=">')


def test_relative_image_cannot_reach_our_own_origin():
    assert "src" not in sanitize_html('<img src="/ucmail/agent/logout">')


def test_html_nested_too_deep_is_shown_as_text():
    html = "<div>" * 20000 + "deep text" + "</div>" * 20000

    cleaned = sanitize_html(html)

    assert cleaned.startswith("<pre")
    assert "deep text" in cleaned
    assert "<div>" not in cleaned


def test_many_unclosed_paragraphs_are_not_mistaken_for_deep_nesting():
    cleaned = sanitize_html("<p>line" * 10000)

    assert cleaned.startswith("<p>line</p>")


@pytest.mark.parametrize("value", ["", None, 42])
def test_empty_or_wrong_input_gives_empty_html(value):
    assert sanitize_html(value) == ""


# --------------------------------------------------------------------------- remote images


def test_remote_image_is_replaced_by_a_placeholder_keeping_its_url():
    html = '<p>Hi</p><img src="https://tracker.example/p.gif?u=1" width="1" alt="pixel">'

    cleaned, blocked = block_remote_images(html)

    assert blocked
    assert f'src="{REMOTE_IMAGE_PLACEHOLDER}"' in cleaned
    assert 'data-remote-src="https://tracker.example/p.gif?u=1"' in cleaned
    assert 'alt="pixel"' in cleaned
    assert cleaned.count("tracker.example") == 1


def test_each_blocked_image_keeps_its_own_url():
    html = (
        '<img src="http://a.example/1.png"><img src="cid:x@y">'
        '<img alt="no source"><img src="//b.example/2.png">'
    )

    cleaned, blocked = block_remote_images(html)

    assert blocked
    assert cleaned == (
        f'<img src="{REMOTE_IMAGE_PLACEHOLDER}" data-remote-src="http://a.example/1.png">'
        '<img src="cid:x@y"><img alt="no source">'
        f'<img src="{REMOTE_IMAGE_PLACEHOLDER}" data-remote-src="https://b.example/2.png">'
    )


def test_message_without_remote_images_is_not_flagged():
    cleaned, blocked = block_remote_images('<p>x</p><img src="cid:logo@x">')

    assert not blocked
    assert cleaned == '<p>x</p><img src="cid:logo@x">'


def test_sender_cannot_supply_its_own_remote_src():
    cleaned, blocked = block_remote_images('<img src="cid:a@b" data-remote-src="javascript:1">')

    assert not blocked
    assert "data-remote-src" not in cleaned
    assert "javascript" not in cleaned


def test_blocking_also_sanitizes():
    cleaned, _ = block_remote_images('<img src="https://x.example/a.png" onerror="alert(1)">')

    assert "onerror" not in cleaned


# --------------------------------------------------------------------------- cid


def test_cid_images_point_at_attachment_urls():
    html = '<img src="cid:logo@example.com"><img src="cid:Photo%40example.com"><img src="cid:none">'
    mapping = {
        "<logo@example.com>": "/ucmail/attachments/7",
        "photo@example.com": "https://app.example/ucmail/attachments/8",
    }

    cleaned = rewrite_cid(html, mapping)

    assert cleaned == (
        '<img src="/ucmail/attachments/7">'
        '<img src="https://app.example/ucmail/attachments/8">'
        '<img src="cid:none">'
    )


@pytest.mark.parametrize(
    "target", ["javascript:alert(1)", "//evil.example/x", "data:text/html,x", "relative"]
)
def test_cid_rewrite_ignores_unsafe_targets(target):
    assert rewrite_cid('<img src="cid:a@b">', {"a@b": target}) == '<img src="cid:a@b">'


def test_cid_rewrite_keeps_blocked_remote_images_loadable():
    blocked_html, _ = block_remote_images(
        '<img src="cid:a@b"><img src="https://cdn.example/x.png">'
    )

    cleaned = rewrite_cid(blocked_html, {"a@b": "/ucmail/attachments/1"})

    assert '<img src="/ucmail/attachments/1">' in cleaned
    assert 'data-remote-src="https://cdn.example/x.png"' in cleaned


def test_cid_rewrite_sanitizes_its_input():
    cleaned = rewrite_cid('<img src="cid:a@b" onerror="alert(1)"><script>x</script>', {})

    assert cleaned == '<img src="cid:a@b">'
