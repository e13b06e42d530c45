package azurite

import "strings"

// DevelopmentKey is the account key Azurite serves by default for devstoreaccount1. It is
// Microsoft's publicly documented, fixed development key (the same for every Azurite and
// Storage Emulator install), not a secret; it lives here and nowhere else.
const DevelopmentKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// DevelopmentConnectionString is what "UseDevelopmentStorage=true" stands for: Azurite on its
// default loopback ports.
const DevelopmentConnectionString = "DefaultEndpointsProtocol=http;AccountName=" + Account +
	";AccountKey=" + DevelopmentKey +
	";BlobEndpoint=http://127.0.0.1:10000/" + Account +
	";QueueEndpoint=http://127.0.0.1:10001/" + Account +
	";TableEndpoint=http://127.0.0.1:10002/" + Account + ";"

// ExpandConnectionString turns the "UseDevelopmentStorage=true" shorthand of local.settings.json
// into a full connection string, which the Go SDKs (aztables, azblob) need; any other value is
// returned as is.
func ExpandConnectionString(s string) string {
	for _, part := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(k, "UseDevelopmentStorage") && strings.EqualFold(v, "true") {
			return DevelopmentConnectionString
		}
	}
	return s
}
