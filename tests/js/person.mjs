// One device of a person, on Element's own stack: matrix-js-sdk with its Rust crypto.
//
// Driven by tests/support/js_people.py over JSON lines: each line on stdin is a request
// {"id", "op", ...}; each answer is {"id", "ok": true, "result"} or {"id", "error"} on
// stdout. Every timeline event the device sees is also written, unasked, as {"seen": {...}}:
// once when it arrives, again when it is decrypted later. The first request must be
// "login"; the process ends when stdin closes. Logs go to stderr, never to stdout.
import { createInterface } from "node:readline";

// The SDK logs through console: keep stdout for the protocol.
for (const level of ["log", "info", "debug", "warn", "error", "trace"]) {
    console[level] = (...args) => process.stderr.write(args.map(String).join(" ") + "\n");
}

const sdk = await import("matrix-js-sdk");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
const cryptoApi = await import("matrix-js-sdk/lib/crypto-api/index.js");
const wasm = await import("@matrix-org/matrix-sdk-crypto-wasm");
logger.setLevel(process.env.PERSON_LOG_LEVEL ?? "warn");

const COLOURS = { 0: "none", 1: "grey", 2: "red" };
const ENCRYPTION = { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };

let client = null;
let account = null;

function write(message) {
    process.stdout.write(JSON.stringify(message) + "\n");
}

/** What the test sees of one timeline event, decrypted where this device can. */
async function seen(event) {
    const encrypted = event.isEncrypted();
    const failure = event.decryptionFailureReason ?? null;
    let shield = { colour: "none", reason: null };
    if (encrypted && failure === null && !event.isBeingDecrypted()) {
        const info = await client.getCrypto().getEncryptionInfoForEvent(event);
        if (info !== null) {
            shield = {
                colour: COLOURS[info.shieldColour] ?? String(info.shieldColour),
                reason: info.shieldReason === null ? null : cryptoApi.EventShieldReason[info.shieldReason],
            };
        }
    }
    const content = event.getContent() ?? {};
    return {
        event_id: event.getId(),
        sender: event.getSender(),
        room_id: event.getRoomId(),
        type: event.getType(),
        state_key: event.getStateKey() ?? null,
        membership: typeof content.membership === "string" ? content.membership : null,
        body: typeof content.body === "string" ? content.body : null,
        relates_to: content["m.relates_to"] ?? null,
        encrypted,
        decryption_error: failure,
        shield,
    };
}

async function report(event) {
    if (event.isBeingDecrypted()) {
        return; // reported once decrypted (MatrixEventEvent.Decrypted)
    }
    write({ seen: await seen(event) });
}

async function login(request) {
    account = request;
    client = sdk.createClient({
        baseUrl: request.homeserver,
        userId: request.user_id,
        deviceId: request.device_id,
        accessToken: request.access_token,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    if (request.cross_sign) {
        // As Element does at login: a cross-signing identity for the account, which signs
        // this device. The first upload may ask for the account's password.
        await crypto.bootstrapCrossSigning({
            authUploadDeviceSigningKeys: async (makeRequest) => {
                try {
                    await makeRequest(null);
                } catch (error) {
                    if (error?.httpStatus !== 401) throw error;
                    await makeRequest({
                        type: "m.login.password",
                        identifier: { type: "m.id.user", user: request.user_id },
                        password: request.password,
                        session: error.data?.session,
                    });
                }
            },
        });
    }
    crypto.setDeviceIsolationMode(
        request.isolation === "all"
            ? new cryptoApi.AllDevicesIsolationMode(false)
            : new cryptoApi.OnlySignedDevicesIsolationMode(),
    );
    client.on(sdk.RoomEvent.Timeline, (event) => void report(event).catch(fail));
    client.on(sdk.MatrixEventEvent.Decrypted, (event) => void report(event).catch(fail));
    client.on(sdk.RoomMemberEvent.Membership, (_event, member) => {
        if (member.userId === request.user_id && member.membership === "invite") {
            client.joinRoom(member.roomId).catch(fail);
        }
    });
    const prepared = new Promise((resolve) => {
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED" || state === "SYNCING") resolve();
        });
    });
    // "detached": a message this device sends is seen once, with its real id, from the sync.
    await client.startClient({ initialSyncLimit: 20, pendingEventOrdering: "detached" });
    await prepared;
    const status = await crypto.getCrossSigningStatus();
    return { cross_signed: status.publicKeysOnDevice && status.privateKeysCachedLocally.selfSigningKey };
}

async function createRoom({ invite, encrypted, direct }) {
    const { room_id: roomId } = await client.createRoom({
        invite,
        is_direct: direct,
        preset: direct ? "trusted_private_chat" : "private_chat",
        initial_state: encrypted ? [ENCRYPTION] : [],
    });
    if (direct) {
        // Element marks a direct room in the account's m.direct, as the spec asks.
        const marked = client.getAccountData("m.direct")?.getContent() ?? {};
        for (const user of invite) {
            marked[user] = [...(marked[user] ?? []), roomId];
        }
        await client.setAccountData("m.direct", marked);
    }
    return roomId;
}

/** The cross-signing master key this device's crypto holds for ``user`` (null: none). */
async function userMasterKey({ user }) {
    await client.getCrypto().getUserDeviceInfo([user], true);
    // The Rust crypto's own record: what Element pins and would warn about if it changed.
    const identity = await client.getCrypto().olmMachine.getIdentity(new wasm.UserId(user));
    if (!identity) return null;
    return Object.values(JSON.parse(identity.masterKey).keys)[0];
}

async function userStatus({ user }) {
    await client.getCrypto().getUserDeviceInfo([user], true);
    const status = await client.getCrypto().getUserVerificationStatus(user);
    return { verified: status.isVerified(), needs_user_approval: status.needsUserApproval };
}

async function deviceStatus({ user, device }) {
    await client.getCrypto().getUserDeviceInfo([user], true);
    const status = await client.getCrypto().getDeviceVerificationStatus(user, device);
    if (status === null) return null;
    return { signed_by_owner: status.signedByOwner, cross_signing_verified: status.crossSigningVerified };
}

const OPS = {
    login,
    create_room: createRoom,
    join: async ({ room_id: roomId }) => (await client.joinRoom(roomId)).roomId,
    say: async ({ room_id: roomId, body }) =>
        (await client.sendMessage(roomId, { msgtype: "m.text", body })).event_id,
    react: async ({ room_id: roomId, event_id: eventId, key }) =>
        (await client.sendEvent(roomId, "m.reaction", {
            "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key },
        })).event_id,
    redact: async ({ room_id: roomId, event_id: eventId }) => (await client.redactEvent(roomId, eventId)).event_id,
    user_master_key: userMasterKey,
    user_status: userStatus,
    device_status: deviceStatus,
};

function fail(error) {
    process.stderr.write(`person: ${error?.stack ?? error}\n`);
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    const op = OPS[request.op];
    // One request at a time, in order: a test waits for each answer anyway.
    try {
        if (!op) throw new Error(`unknown op ${request.op}`);
        write({ id: request.id, ok: true, result: (await op(request)) ?? null });
    } catch (error) {
        write({ id: request.id, error: `${request.op}: ${error?.message ?? error}` });
    }
}
client?.stopClient();
process.exit(0);
