package differ

import "strings"

// Formats lists the response formats the differ reads, as accepted by a
// job's response.format.
var Formats = []string{"json", "xml", "csv", "text"}

// FormatFromContentType picks the format of a response whose Content-Type
// header is contentType, for jobs that do not set one: "json" for
// application/json and any +json type, "xml" for application/xml, text/xml
// and any +xml type, "csv" for text/csv and application/csv, and "text"
// for everything else, an empty or unparsable header included. Parameters
// such as charset are ignored and case does not matter.
func FormatFromContentType(contentType string) string {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return "json"
	case mediaType == "application/xml" || mediaType == "text/xml" || strings.HasSuffix(mediaType, "+xml"):
		return "xml"
	case mediaType == "text/csv" || mediaType == "application/csv":
		return "csv"
	}
	return "text"
}
