package publish

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// acrHostRe is an ACR login server: the registry name (5-50 letters and digits), with the
// hash suffix of a registry created with a domain name label scope, in one of the
// clouds' registry domains.
var acrHostRe = regexp.MustCompile(`^[a-z0-9]{5,50}(-[a-z0-9]+)?\.azurecr\.(io|cn|us)$`)

// acrDomain is the registry domain of a named cloud, or "" for a custom authority (any
// of the three domains then).
func acrDomain(cloud string) string {
	switch strings.ToLower(cloud) {
	case "", strings.ToLower(azure.CloudPublic), "azurecloud":
		return "azurecr.io"
	case strings.ToLower(azure.CloudChina), "azurechinacloud":
		return "azurecr.cn"
	case strings.ToLower(azure.CloudGovernment), "azureusgovernment":
		return "azurecr.us"
	}
	return ""
}

// isLoopback reports whether host (host[:port]) is localhost or a loopback address.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRegistry decides whether the ACR credential may be sent to registry: only an ACR
// login server of the configured cloud, over https. loopback (tests only) also admits a
// registry on a loopback address, the one place plain http cannot be read by others.
func checkRegistry(registry, cloud string, loopback bool) error {
	if loopback && isLoopback(registry) {
		return nil
	}
	domain := acrDomain(cloud)
	if !acrHostRe.MatchString(registry) || (domain != "" && !strings.HasSuffix(registry, "."+domain)) {
		want := "an ACR login server of your cloud, <name>.azurecr.io (AzureChina: .azurecr.cn, AzureGovernment: .azurecr.us)"
		if domain != "" {
			want = "an ACR login server of " + cloud + ", <name>." + domain
		}
		return fmt.Errorf("%q is not %s: the step hands its ACR token only to that host", registry, want)
	}
	return nil
}
