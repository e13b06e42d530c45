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
		if !errors.As(c.err, &se) || se.Setting != c.setting || !strings.HasPrefix(se.Problem, c.problem) {
			t.Fatalf("want setting %s %q, got %v", c.setting, c.problem, c.err)
		}
		if strings.Contains(c.err.Error(), "secret") {
			t.Fatalf("%v repeats the setting's value", c.err)
		}
	}
}

// In Azure the apps connect with their managed identity: which settings make which clients.
func TestIdentityBasedSettings(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings map[string]string
		want     connect.StorageTarget
		problem  string // on the setting named in wantSetting
		setting  string
	}{
		{name: "account name", settings: map[string]string{"S__accountName": "meterlinesa", "S__clientId": "id-1"},
			want: connect.StorageTarget{TableURL: "https://meterlinesa.table.core.windows.net", BlobURL: "https://meterlinesa.blob.core.windows.net", ClientID: "id-1"}},
		{name: "service URIs", settings: map[string]string{"S__tableServiceUri": "https://t.example", "S__blobServiceUri": "https://b.example"},
			want: connect.StorageTarget{TableURL: "https://t.example", BlobURL: "https://b.example"}},
		{name: "a connection string wins", settings: map[string]string{"S": storage, "S__accountName": "meterlinesa"},
			want: connect.StorageTarget{ConnectionString: storage}},
		{name: "only the table URI", settings: map[string]string{"S__tableServiceUri": "https://t.example"}, setting: "S__blobServiceUri", problem: "is required"},
		{name: "only the blob URI", settings: map[string]string{"S__blobServiceUri": "https://b.example"}, setting: "S__tableServiceUri", problem: "is required"},
		{name: "both forms", settings: map[string]string{"S__accountName": "a12", "S__blobServiceUri": "https://b.example"}, setting: "S__accountName", problem: "is set with"},
		{name: "bad account", settings: map[string]string{"S__accountName": "Not_An-Account"}, setting: "S__accountName", problem: "is not a storage account"},
		{name: "plain http", settings: map[string]string{"S__tableServiceUri": "http://t.example", "S__blobServiceUri": "https://b.example"}, setting: "S__tableServiceUri", problem: "is not an https URL"},
		{name: "nothing", settings: map[string]string{}, setting: "S", problem: "is required"},
	} {
		got, err := connect.StorageOf(func(n string) string { return c.settings[n] }, "S")
		if c.problem != "" {
			var se *connect.SettingError
			if !errors.As(err, &se) || se.Setting != c.setting || !strings.HasPrefix(se.Problem, c.problem) {
				t.Errorf("%s: %v; want setting %s %q", c.name, err, c.setting, c.problem)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	// The clients are built on those URLs with a credential; nothing is contacted yet.
	setting := func(n string) string {
		return map[string]string{"S__accountName": "meterlinesa", "B__fullyQualifiedNamespace": "meterline.servicebus.windows.net"}[n]
	}
	tables, blobs, err := connect.Storage(setting, "S")
	if err != nil || !strings.HasPrefix(blobs.URL(), "https://meterlinesa.blob.core.windows.net") || tables == nil {
		t.Fatalf("identity storage clients: %v", err)
	}
	if sb, err := connect.ServiceBusOf(setting, "B"); err != nil || sb.Namespace != "meterline.servicebus.windows.net" {
		t.Fatalf("identity Service Bus: %+v %v", sb, err)
	}
	if _, err := connect.Publisher(setting, "B", "subscriptions"); err != nil {
		t.Fatalf("identity publisher: %v", err)
	}
	for _, ns := range []string{"sb://x.servicebus.windows.net", "nodots"} {
		if _, err := connect.ServiceBusOf(func(n string) string { return map[string]string{"B__fullyQualifiedNamespace": ns}[n] }, "B"); err == nil {
			t.Errorf("namespace %q accepted", ns)
		}
	}
}
