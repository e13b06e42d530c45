package funchost

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Connection settings are looked up the way the Functions host and its
// extensions look them up, so that a setting that works here works in Azure.

// defaultServiceBusConnection is the connection name a serviceBus binding
// without "connection" uses (Constants.DefaultConnectionStringName in the
// Service Bus extension); its prefixed form is AzureWebJobsServiceBus.
const defaultServiceBusConnection = "ServiceBus"

// resolveServiceBusConnection returns the connection string for a serviceBus
// binding's "connection". The Service Bus extension tries the name itself
// first and AzureWebJobs<name> second (ConfigurationExtensions.
// GetWebJobsConnectionStringSectionServiceBus, "intentionally flipped" from
// the WebJobs order for back compat), and accepts either a connection string
// or an identity-based section with fullyQualifiedNamespace
// (ServiceBusClientFactory.ResolveConnectionInformation). The errors are the
// extension's own messages.
//
// Identity-based connections need a Microsoft Entra token, which the local
// host cannot get and the emulator would not check. So a
// <name>__fullyQualifiedNamespace that names a loopback address (the local
// emulator, e.g. 127.0.0.1:5672) becomes the emulator's connection string
// (any SAS key works there), and any other namespace is refused rather than
// silently sent somewhere else.
func resolveServiceBusConnection(connection string, s Settings) (string, error) {
	name := connection
	if name == "" {
		name = defaultServiceBusConnection
	}
	for _, candidate := range []string{name, "AzureWebJobs" + name} {
		value, children, ok := s.Section(candidate)
		if !ok {
			continue
		}
		if strings.TrimSpace(value) != "" {
			return value, nil
		}
		fqns := strings.TrimSpace(children["fullyqualifiednamespace"])
		if fqns == "" {
			return "", errors.New("Connection should have an 'fullyQualifiedNamespace' property or be a string representing a connection string.")
		}
		if !isLoopbackNamespace(fqns) {
			return "", fmt.Errorf("setting %s__fullyQualifiedNamespace (%s) is an identity-based connection; the local host has no Microsoft Entra credential to use it: "+
				"point it at the local Service Bus emulator (e.g. 127.0.0.1:5672) or set %s to a connection string", candidate, fqns, candidate)
		}
		return emulatorConnectionString(fqns), nil
	}
	if looksLikeConnectionString(name) {
		// As the extension does: never echo a connection string used as a name.
		name = "<< REDACTED >> (a full connection string was incorrectly used instead of a connection setting name)"
	}
	return "", fmt.Errorf("Service Bus account connection string with name '%s' does not exist in the settings. Make sure that it is a defined App Setting.", name)
}

func looksLikeConnectionString(v string) bool {
	l := strings.ToLower(v)
	return strings.Contains(l, "endpoint=") || strings.Contains(l, "sharedaccesskey")
}

// isLoopbackNamespace reports a namespace (host or host:port) on this machine.
func isLoopbackNamespace(fqns string) bool {
	host := strings.TrimSuffix(strings.TrimPrefix(fqns, "sb://"), "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// emulatorConnectionString is what the Service Bus emulator accepts for a
// namespace address on loopback.
func emulatorConnectionString(fqns string) string {
	host := strings.TrimSuffix(strings.TrimPrefix(fqns, "sb://"), "/")
	return "Endpoint=sb://" + host + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=local-emulator;UseDevelopmentEmulator=true;"
}

// storageConnection returns AzureWebJobsStorage the way the host finds the
// "Storage" connection: the prefixed name AzureWebJobsStorage first, then the
// bare name (IConfigurationExtensions.GetWebJobsConnectionStringSection in
// azure-webjobs-sdk). Identity-based storage (AzureWebJobsStorage__accountName
// ...) needs an Entra token and is refused by name.
func storageConnection(s Settings) (string, error) {
	for _, candidate := range []string{"AzureWebJobsStorage", "Storage"} {
		value, children, ok := s.Section(candidate)
		if !ok {
			continue
		}
		if strings.TrimSpace(value) != "" {
			return value, nil
		}
		if len(children) > 0 {
			return "", fmt.Errorf("setting %s is identity-based (%s__...); the local host has no Microsoft Entra credential: set %s to a connection string (UseDevelopmentStorage=true for Azurite)", candidate, candidate, candidate)
		}
	}
	return "", errors.New("Storage account connection string 'AzureWebJobsStorage' does not exist. Make sure that it is a defined App Setting.")
}
