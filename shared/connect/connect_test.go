package connect_test

import (
	"errors"
	"strings"
	"testing"

	"meterline/shared/connect"
)

const (
	storage = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=c2VjcmV0LWtleQ==;BlobEndpoint=http://127.0.0.1:1/a;TableEndpoint=http://127.0.0.1:2/a;"
	bus     = "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=secret-key;UseDevelopmentEmulator=true;"
)

// Building clients parses the settings only: nothing listens on these ports.
func TestClientsFromSettings(t *testing.T) {
	settings := map[string]string{"S": storage, "B": bus}
	setting := func(n string) string { return settings[n] }
	if tables, blobs, err := connect.Storage(setting, "S"); err != nil || tables == nil || blobs == nil {
		t.Fatalf("storage: %v", err)
	}
	if tables, err := connect.Tables(setting, "S"); err != nil || tables == nil {
		t.Fatalf("tables: %v", err)
	}
	if pub, err := connect.Publisher(setting, "B", "topic"); err != nil || pub == nil {
		t.Fatalf("publisher: %v", err)
	}
}

func TestBadSettingsAreNamedNotQuoted(t *testing.T) {
	settings := map[string]string{"S": "AccountKey=secret-value", "B": "Endpoint=secret-value"}
	setting := func(n string) string { return settings[n] }
	_, _, errStorage := connect.Storage(setting, "S")
	_, errTables := connect.Tables(setting, "S")
	_, errBus := connect.Publisher(setting, "B", "topic")
	_, errMissing := connect.Publisher(setting, "M", "topic")
	for _, c := range []struct {
		err     error
		setting string
		problem string
	}{
		{errStorage, "S", "is not a storage connection string"},
		{errTables, "S", "is not a storage connection string"},
		{errBus, "B", "is not a Service Bus connection string"},
		{errMissing, "M", "is required"},
	} {
		var se *connect.SettingError
		if !errors.As(c.err, &se) || se.Setting != c.setting || se.Problem != c.problem {
			t.Fatalf("want setting %s %q, got %v", c.setting, c.problem, c.err)
		}
		if strings.Contains(c.err.Error(), "secret") {
			t.Fatalf("%v repeats the setting's value", c.err)
		}
	}
}
