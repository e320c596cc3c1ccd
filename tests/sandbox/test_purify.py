"""The sandbox keeps saved text as SuiteCRM 7.14.6 does (suitecrm_sandbox/purify.py).

Each expected value was computed by SuiteCRM 7.14.6's own purify_html() (include/utils.php, with
include/HtmlSanitizer.php and HTMLPurifier 4.15.0 from its composer.lock) under PHP 8.2 and libxml2
2.9, then from_html()-decoded as the database layer does once for every write: what a custom field
(contacts_cstm) holds. A column of the module's own table is decoded once more.
"""

from __future__ import annotations

import pytest

from suitecrm_sandbox import purify

PURIFY_HTML = [  # (saved value, as stored in a custom field)
    ("Kill & Restart <Course> 7", "Kill &amp; Restart  7"),
    ("bool 'true'", "bool 'true'"),
    ("a < b", "a &lt; b"),
    ("a<b", "a"),
    ("<b>bold</b>", "<b>bold</b>"),
    ("x > y", "x &gt; y"),
    ("Tom \"T\" O'Neil", "Tom \"T\" O'Neil"),
    ("Jürgen", "Jürgen"),
    ("a &amp; b", "a &amp; b"),
    ("AT&T", "AT&amp;T"),
    ("5 < 6 > 4", "5 &lt; 6 &gt; 4"),
    ("<script>alert(1)</script>hi", "hi"),
    ("C++ & C#", "C++ &amp; C#"),
    ("1 &lt; 2", "1 &lt; 2"),
    ("café", "café"),
    ("€ 5", "€ 5"),
    ("<p>para</p>", "<p>para</p>"),
    ("tab\there", "tab\there"),
    ("x<y and y>z", "xz"),
    ("&", "&amp;"),
    ("<", "&lt;"),
    ("Intro <to> <b>CS</b>", "Intro  <b>CS</b>"),
    ("<Course>", ""),
    ("a  b", "a  b"),
    ("&#039;", "'"),
    ("&quot;q&quot;", "\"q\""),
    ("mailto <a@b.org>", "mailto "),
    ("Name &lt;a@b.org&gt;", "Name &lt;<a href=\"mailto:a@b.org\">a@b.org</a>&gt; "),
    ("<b>unclosed", "<b>unclosed</b>"),
    ("</b>stray", "stray"),
    ("a <!-- c --> b", "a  b"),
    ("<a href=\"http://x.org/\">link</a>", "<a href=\"http://x.org/\">link</a>"),
    ("<a href=\"javascript:alert(1)\">x</a>", "<a>x</a>"),
    ("<i></i>empty", "empty"),
    ("<span> </span>x", "x"),
    ("3 <= 4", "3 &lt;= 4"),
    ("<<double>>", "&lt;&gt;"),
    ("a &nbsp; b", "a   b"),
    ("&copy; 2026", "© 2026"),
    ("&apos;x&apos;", "'x'"),
    ("&amp", "&amp;amp"),
    ("AT&amp;T &lt;b&gt;", "AT&amp;T "),
    ("<img src=\"http://x.org/a.png\">", "<img src=\"http://x.org/a.png\" alt=\"a.png\" />"),
    ("<br>line", "<br />line"),
    ("line1\nline2", "line1\nline2"),
    ("line1\r\nline2", "line1\nline2"),
    ("<center>c</center>", "<center>c</center>"),
    ("<font color=\"red\">r</font>", "<font color=\"#FF0000\">r</font>"),
    ("<div>d</div>", "<div>d</div>"),
    ("<P>Upper</P>", "<p>Upper</p>"),
    ("100%", "100%"),
    ("C:\\path\\file", "C:\\path\\file"),
    ("emoji 😀", "emoji 😀"),
    ("日本語", "日本語"),
    ("Ñandú", "Ñandú"),
    ("x&y=1", "x&amp;y=1"),
    ("&#60;b&#62;", ""),
    ("&lt;script&gt;alert(1)&lt;/script&gt;", ""),
    ("it's 5' 3\"", "it's 5' 3\""),
    ("a<3", "a&lt;3"),
    ("</div>after", "after"),
    ("<html>h</html>", "h"),
    ("<table><tr><td>t</td></tr></table>", "<table><tr><td>t</td></tr></table>"),
    ("<ul><li>1</li></ul>", "<ul><li>1</li></ul>"),
    ("<h1>Title</h1>", "<h1>Title</h1>"),
    ("Course (2026) - Intro: Part #1/2 [A] {B} ~ ^ ` | \\", "Course (2026) - Intro: Part #1/2 [A] {B} ~ ^ ` | \\"),
    ("Grüße & Co. <GmbH>", "Grüße &amp; Co. "),
    ("< >", "&lt; &gt;"),
    ("<3 <3", "&lt;3 &lt;3"),
    ("5 <b", "5 "),
    ("a<-b", "a&lt;-b"),
    ("x</y>z", "xz"),
    ("<?php echo 1; ?>x", "&lt;?php echo 1; ?&gt;x"),
    ("<!DOCTYPE html>x", "x"),
    ("<![CDATA[c]]>x", "cx"),
]


@pytest.mark.parametrize(("value", "stored"), PURIFY_HTML)
def test_saved_text_is_what_suitecrm_keeps(value, stored):
    assert purify.saved(value) == stored


def test_a_module_column_is_decoded_once_more_and_reads_encode_quotes_and_angles_only():
    kept = purify.entity_decode(purify.saved("Kill & Restart <Course> 7"))
    assert kept == "Kill & Restart  7"
    assert purify.to_html("O'Neil & Co \"quoted\" <b>") == "O&#039;Neil & Co &quot;quoted&quot; &lt;b&gt;"


def test_php_entity_decoding():
    # HTML 4.01 names only, a reference needs its semicolon, control characters stay encoded.
    assert purify.entity_decode("&apos; &amp &eacute; &#233; &#xE9; &#1; &#039;") == "&apos; &amp é é é &#1; '"
