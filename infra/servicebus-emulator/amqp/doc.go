// Package amqp is the AMQP 1.0 type codec and frame layer of the Service Bus
// emulator: the OASIS AMQP 1.0 type system (part 1), the performatives and
// delivery states (parts 2 and 3), the SASL frames (part 5) and the frame
// format (part 2.3). It models no messages: message sections inside transfer
// payloads are left to go-amqp's amqp.Message.
//
// # Values
//
// AMQP values map to Go as: null→nil, boolean→bool, ubyte→uint8,
// ushort→uint16, uint→uint32, ulong→uint64, byte→int8, short→int16,
// int→int32, long→int64, float→float32, double→float64, char→Char,
// timestamp→time.Time (ms, UTC), uuid→UUID, binary→[]byte, string→string,
// symbol→Symbol, list→[]any, map→Map, decimal32/64/128→Decimal32/64/128.
// Arrays decode to []Symbol, []UUID, []int64, []uint64, []int32, []uint32,
// []string, []time.Time, []bool or [][]byte when the element type is one of
// those, else to Array. Described values decode to the registered struct
// (always as a pointer: *Open, *Transfer, *Accepted, *Error, *Source, ...)
// or to *Described.
//
// Encoding picks the smallest encoding (uint0/smalluint, list0/list8, sym8, ...)
// and accepts both the pointer and the value form of every struct. A nil slice
// or map encodes as null. Map keys are written in the order of their encoded
// bytes, so the output is deterministic. Decoding accepts every encoding the
// specification allows, and descriptors as ulong codes or as symbols
// ("amqp:open:list").
//
// # Composite defaults
//
// Struct fields that are zero are omitted on the wire (trailing nulls are
// trimmed); on decode an absent field takes the specification's default.
// Zero Open.MaxFrameSize, Open.ChannelMax and Begin.HandleMax mean "absent"
// (spec defaults 4294967295, 65535 and 4294967295) and decode as those
// defaults, so an explicit channel-max/handle-max of 0 cannot be sent.
// Source/Target.ExpiryPolicy "" means absent (session-end).
//
// # Ownership
//
// Unmarshal never aliases its input. ReadFrame returns a Frame whose Payload,
// DeliveryTag and every other []byte is owned by the caller: it is either a
// fresh copy or part of a buffer allocated for that one frame, never reused.
//
// # Robustness
//
// Any input gives a value or an error, never a panic. Lengths and element
// counts are checked against the bytes that are actually there before
// anything is allocated, nesting is limited to 64 levels, and ReadFrame grows
// its buffer with the bytes received rather than trusting the size header.
package amqp
