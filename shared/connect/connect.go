// Package connect builds the Azure SDK clients a bounded context needs from its app settings,
// the way the Functions host reads the same settings for its triggers:
//
//   - a connection string in the setting itself (locally: Azurite and the Service Bus emulator);
//   - or an identity-based connection (in Azure, with the app's managed identity and no secret
//     anywhere): the setting's name with a suffix, e.g. AzureWebJobsStorage__accountName, or
//     AzureWebJobsStorage__tableServiceUri with AzureWebJobsStorage__blobServiceUri, and
//     ServiceBusConnection__fullyQualifiedNamespace. <name>__clientId picks a user-assigned
//     identity; without it, DefaultAzureCredential chooses.
//
// Its errors name the setting and never repeat its value: connection strings hold secrets.
package connect

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/shared/servicebus"
)

// SettingError is an app setting that is missing or unusable.
type SettingError struct {
	Setting string // the setting's name, never its value
	Problem string // e.g. "is required"
}

func (e *SettingError) Error() string { return "app setting " + e.Setting + " " + e.Problem }

// Suffixes of identity-based connection settings, as the Functions host names them.
const (
	AccountName             = "__accountName"
	TableServiceURI         = "__tableServiceUri"
	BlobServiceURI          = "__blobServiceUri"
	FullyQualifiedNamespace = "__fullyQualifiedNamespace"
	ClientID                = "__clientId"
)

// StorageTarget is how a context reaches its storage account: a connection string, or the
// service URIs and the identity to use.
type StorageTarget struct {
	ConnectionString string
	TableURL         string
	BlobURL          string
	ClientID         string // user-assigned managed identity; "" for DefaultAzureCredential
}

// StorageOf resolves the storage settings of name.
func StorageOf(setting func(string) string, name string) (StorageTarget, error) {
	if conn := setting(name); conn != "" {
		return StorageTarget{ConnectionString: conn}, nil
	}
	t := StorageTarget{ClientID: setting(name + ClientID)}
	account := setting(name + AccountName)
	tableURI, blobURI := setting(name+TableServiceURI), setting(name+BlobServiceURI)
	switch {
	case account != "" && (tableURI != "" || blobURI != ""):
		return t, &SettingError{Setting: name + AccountName, Problem: "is set with service URIs: set either the account name or both URIs"}
	case account != "":
		if !validAccount(account) {
			return t, &SettingError{Setting: name + AccountName, Problem: "is not a storage account name (3-24 lower-case letters and digits)"}
		}
		t.TableURL = "https://" + account + ".table.core.windows.net"
		t.BlobURL = "https://" + account + ".blob.core.windows.net"
	case tableURI != "" && blobURI != "":
		for suffix, u := range map[string]string{TableServiceURI: tableURI, BlobServiceURI: blobURI} {
			if !httpsURL(u) {
				return t, &SettingError{Setting: name + suffix, Problem: "is not an https URL"}
			}
		}
		t.TableURL, t.BlobURL = tableURI, blobURI
	case tableURI != "":
		return t, &SettingError{Setting: name + BlobServiceURI, Problem: "is required with " + name + TableServiceURI}
	case blobURI != "":
		return t, &SettingError{Setting: name + TableServiceURI, Problem: "is required with " + name + BlobServiceURI}
	default:
		return t, &SettingError{Setting: name, Problem: "is required (a connection string, or " + name + AccountName + " for the app's identity)"}
	}
	return t, nil
}

// Storage is the table and blob clients on the storage account of app setting name.
func Storage(setting func(name string) string, name string) (*aztables.ServiceClient, *azblob.Client, error) {
	t, err := StorageOf(setting, name)
	if err != nil {
		return nil, nil, err
	}
	if t.ConnectionString != "" {
		tables, err := aztables.NewServiceClientFromConnectionString(t.ConnectionString, nil)
		if err != nil {
			return nil, nil, notA(name, "storage")
		}
		blobs, err := azblob.NewClientFromConnectionString(t.ConnectionString, nil)
		if err != nil {
			return nil, nil, notA(name, "storage")
		}
		return tables, blobs, nil
	}
	cred, err := credential(t.ClientID)
	if err != nil {
		return nil, nil, fmt.Errorf("app setting %s: identity: %w", name, err)
	}
	tables, err := aztables.NewServiceClient(t.TableURL, cred, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("app setting %s: %w", name, err)
	}
	blobs, err := azblob.NewClient(t.BlobURL, cred, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("app setting %s: %w", name, err)
	}
	return tables, blobs, nil
}

// Tables is the table service client on the storage account of app setting name.
func Tables(setting func(name string) string, name string) (*aztables.ServiceClient, error) {
	tables, _, err := Storage(setting, name)
	return tables, err
}

// ServiceBusTarget is how a context reaches its Service Bus namespace.
type ServiceBusTarget struct {
	ConnectionString string
	Namespace        string // fully qualified, e.g. meterline.servicebus.windows.net
	ClientID         string
}

// ServiceBusOf resolves the Service Bus settings of name.
func ServiceBusOf(setting func(string) string, name string) (ServiceBusTarget, error) {
	if conn := setting(name); conn != "" {
		return ServiceBusTarget{ConnectionString: conn}, nil
	}
	ns := setting(name + FullyQualifiedNamespace)
	if ns == "" {
		return ServiceBusTarget{}, &SettingError{Setting: name, Problem: "is required (a connection string, or " + name + FullyQualifiedNamespace + " for the app's identity)"}
	}
	if strings.ContainsAny(ns, "/:; ") || !strings.Contains(ns, ".") {
		return ServiceBusTarget{}, &SettingError{Setting: name + FullyQualifiedNamespace, Problem: "is not a host name like <namespace>.servicebus.windows.net"}
	}
	return ServiceBusTarget{Namespace: ns, ClientID: setting(name + ClientID)}, nil
}

// ServiceBus is a client of the namespace in app setting name.
func ServiceBus(setting func(name string) string, name string) (*azservicebus.Client, error) {
	t, err := ServiceBusOf(setting, name)
	if err != nil {
		return nil, err
	}
	if t.ConnectionString != "" {
		client, err := azservicebus.NewClientFromConnectionString(t.ConnectionString, nil)
		if err != nil {
			return nil, notA(name, "Service Bus")
		}
		return client, nil
	}
	cred, err := credential(t.ClientID)
	if err != nil {
		return nil, fmt.Errorf("app setting %s: identity: %w", name, err)
	}
	return azservicebus.NewClient(t.Namespace, cred, nil)
}

// Publisher publishes to topic on the Service Bus namespace in app setting name.
func Publisher(setting func(name string) string, name, topic string) (*servicebus.Publisher, error) {
	client, err := ServiceBus(setting, name)
	if err != nil {
		return nil, err
	}
	return servicebus.NewPublisher(client, topic)
}

// credential is the app's managed identity when clientID names a user-assigned one, else
// whatever DefaultAzureCredential finds (a managed identity in Azure, az login on a laptop).
func credential(clientID string) (azcore.TokenCredential, error) {
	if clientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

func validAccount(s string) bool {
	if len(s) < 3 || len(s) > 24 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// notA drops the SDK's error on purpose: it may quote the connection string.
func notA(name, kind string) error {
	return &SettingError{Setting: name, Problem: "is not a " + kind + " connection string"}
}
