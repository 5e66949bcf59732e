package contract

import "strings"

// ChartName is the Helm chart's name.
const ChartName = "daedalus"

// Fullname is the chart's daedalus.fullname for a release: the release name when it already
// holds the chart's name, else "<release>-daedalus"; cut to 50 bytes, less one trailing "-"
// (Helm's trunc 50 | trimSuffix "-").
func Fullname(release string) string {
	name := release
	if !strings.Contains(release, ChartName) {
		name = release + "-" + ChartName
	}
	if len(name) > 50 {
		name = name[:50]
	}
	return strings.TrimSuffix(name, "-")
}

// NATSService is the Service of the release's NATS server.
func NATSService(release string) string { return Fullname(release) + "-nats" }

// NATSAuthSecret is the Secret holding the release's NATS credentials.
func NATSAuthSecret(release string) string { return Fullname(release) + "-nats-auth" }
