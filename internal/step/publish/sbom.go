package publish

import (
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SBOMMediaType is the artifact type of the SBOM pushed beside the image.
const SBOMMediaType = "application/spdx+json"

type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string    `json:"name"`
	SPDXID           string    `json:"SPDXID"`
	VersionInfo      string    `json:"versionInfo,omitempty"`
	DownloadLocation string    `json:"downloadLocation"`
	FilesAnalyzed    bool      `json:"filesAnalyzed"`
	ExternalRefs     []spdxRef `json:"externalRefs,omitempty"`
}

type spdxRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SBOM returns an SPDX 2.3 JSON document listing the Go modules linked into the binary at
// bin (its main module, every dependency and the Go toolchain), from its build info. The
// same binary gives the same bytes.
func SBOM(bin, source, revision string, created time.Time) ([]byte, error) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("reading the build info of %s: %w", bin, err)
	}
	main := info.Main.Path
	if main == "" {
		main = info.Path
	}
	ns := strings.TrimSuffix(source, "/")
	if ns == "" {
		ns = "https://" + main
	}
	doc := spdxDoc{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              info.Path + "@" + revision,
		DocumentNamespace: ns + "/spdx/" + info.Path + "@" + revision,
		CreationInfo: spdxCreation{
			Created:  created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: daedalus-publish", "Organization: Daedalus"},
		},
	}
	pkg := func(id, path, version string) {
		p := spdxPackage{Name: path, SPDXID: id, VersionInfo: version, DownloadLocation: "NOASSERTION"}
		if version != "" && version != "(devel)" {
			p.ExternalRefs = []spdxRef{{"PACKAGE-MANAGER", "purl", "pkg:golang/" + path + "@" + version}}
		}
		doc.Packages = append(doc.Packages, p)
	}
	mainVersion := info.Main.Version
	if revision != "" {
		mainVersion = revision
	}
	pkg("SPDXRef-Package-main", main, mainVersion)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Package-main"})
	pkg("SPDXRef-Package-go", "stdlib", strings.TrimPrefix(info.GoVersion, "go"))
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-Package-main", "DEPENDS_ON", "SPDXRef-Package-go"})
	for i, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		id := fmt.Sprintf("SPDXRef-Package-%d", i+1)
		pkg(id, d.Path, d.Version)
		doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-Package-main", "DEPENDS_ON", id})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
