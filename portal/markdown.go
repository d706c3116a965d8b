package portal

import (
	"html"
	"html/template"
	"regexp"
	"strings"
)

// renderMarkdown turns a policy's Markdown into HTML, for /privacy and /my/policy. It
// renders a conservative subset and nothing else, so no library is needed and nothing
// in the text can become markup of its own: every character of the source is escaped
// first, and only these are recognised afterwards:
//
//   - "#", "##", "###" headings (shown one level lower: the page has the h1);
//   - paragraphs (blank-line separated; a line break inside one is a space);
//   - "- " or "* " bullet lists and "1. " numbered lists (one level);
//   - **bold**, *italic*, `code`;
//   - [text](url) links whose url starts with https://, http:// or mailto: (anything
//     else stays text).
//
// Raw HTML in the source shows as text.
func renderMarkdown(src string) template.HTML {
	var out strings.Builder
	var para []string
	list := "" // "ul" or "ol" while in a list
	flushPara := func() {
		if len(para) > 0 {
			out.WriteString("<p>" + inline(strings.Join(para, " ")) + "</p>\n")
			para = nil
		}
	}
	closeList := func() {
		if list != "" {
			out.WriteString("</" + list + ">\n")
			list = ""
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "":
			flushPara()
			closeList()
		case strings.HasPrefix(t, "#"):
			flushPara()
			closeList()
			level := len(t) - len(strings.TrimLeft(t, "#"))
			if level > 3 || len(t) == level || t[level] != ' ' {
				para = append(para, t)
				continue
			}
			tag := []string{"", "h2", "h3", "h4"}[level]
			out.WriteString("<" + tag + ">" + inline(strings.TrimSpace(t[level:])) + "</" + tag + ">\n")
		case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* "):
			flushPara()
			if list != "ul" {
				closeList()
				out.WriteString("<ul>\n")
				list = "ul"
			}
			out.WriteString("<li>" + inline(strings.TrimSpace(t[2:])) + "</li>\n")
		case orderedItem.MatchString(t):
			flushPara()
			if list != "ol" {
				closeList()
				out.WriteString("<ol>\n")
				list = "ol"
			}
			out.WriteString("<li>" + inline(orderedItem.ReplaceAllString(t, "")) + "</li>\n")
		default:
			if list != "" {
				closeList()
			}
			para = append(para, t)
		}
	}
	flushPara()
	closeList()
	return template.HTML(out.String()) //nolint:gosec // built from escaped text only (see above)
}

var (
	orderedItem = regexp.MustCompile(`^[0-9]{1,3}\. `)
	// These run on escaped text: "&", "<", ">", '"' and "'" are entities by then, so
	// none of the patterns can open or close a tag or an attribute.
	linkRE   = regexp.MustCompile(`\[([^\]]+)\]\(((?:https?://|mailto:)[^)\s]+)\)`)
	boldRE   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	italicRE = regexp.MustCompile(`\*([^*]+)\*`)
	codeRE   = regexp.MustCompile("`([^`]+)`")
)

// inline escapes s and then marks up its code, links, bold and italic.
func inline(s string) string {
	e := html.EscapeString(s)
	e = codeRE.ReplaceAllString(e, "<code>$1</code>")
	e = linkRE.ReplaceAllString(e, `<a href="$2" rel="nofollow noopener">$1</a>`)
	e = boldRE.ReplaceAllString(e, "<strong>$1</strong>")
	e = italicRE.ReplaceAllString(e, "<em>$1</em>")
	return e
}
