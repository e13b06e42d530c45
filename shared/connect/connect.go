// Package connect builds the Azure SDK clients a bounded context needs from its app settings.
// Its errors name the setting and never repeat its value: connection strings hold secrets.
package connect

import (
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

// Tables is a table service client on the storage account in app setting name.
func Tables(setting func(name string) string, name string) (*aztables.ServiceClient, error) {
	conn, err := value(setting, name)
	if err != nil {
		return nil, err
	}
	tables, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		return nil, notA(name, "storage")
	}
	return tables, nil
}

// Storage is the table and blob clients on the storage account in app setting name.
func Storage(setting func(name string) string, name string) (*aztables.ServiceClient, *azblob.Client, error) {
	tables, err := Tables(setting, name)
	if err != nil {
		return nil, nil, err
	}
	blobs, err := azblob.NewClientFromConnectionString(setting(name), nil)
	if err != nil {
		return nil, nil, notA(name, "storage")
	}
	return tables, blobs, nil
}

// Publisher publishes to topic on the Service Bus namespace in app setting name.
func Publisher(setting func(name string) string, name, topic string) (*servicebus.Publisher, error) {
	conn, err := value(setting, name)
	if err != nil {
		return nil, err
	}
	client, err := azservicebus.NewClientFromConnectionString(conn, nil)
	if err != nil {
		return nil, notA(name, "Service Bus")
	}
	return servicebus.NewPublisher(client, topic)
}

func value(setting func(name string) string, name string) (string, error) {
	if v := setting(name); v != "" {
		return v, nil
	}
	return "", &SettingError{Setting: name, Problem: "is required"}
}

// notA drops the SDK's error on purpose: it may quote the connection string.
func notA(name, kind string) error {
	return &SettingError{Setting: name, Problem: "is not a " + kind + " connection string"}
}
