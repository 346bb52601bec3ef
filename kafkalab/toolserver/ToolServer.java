/*
 * The warm tool JVM of a kafkalab cluster: runs Kafka command line tools' main classes on
 * request, each call with its own arguments, standard streams, exit code and shutdown hooks,
 * in one long-lived JVM instead of a new JVM per command.
 *
 * Started by kafkalab (kafkalab/tooljvm.py) with a listening Unix domain socket as its standard
 * input (System.inheritedChannel) and the main classes it may run as arguments. A client
 * (kafkalab/_tool_client.py, run by the launch scripts) connects and speaks in frames: one
 * byte of type, four of length (big-endian), then the payload.
 *
 *   client -> server: 'H' header (main class, arguments, locale variables), 'I' standard input
 *                     bytes, 'E' end of standard input, 'S' a signal (4 bytes: its number),
 *                     'P' the client's standard output is closed (a broken pipe).
 *   server -> client: 'A' the call runs here (before it, a lost connection means it never
 *                     started), 'O' standard output bytes, 'R' standard error bytes, 'N' the tool reads
 *                     its standard input (send it), 'X' exit code (4 bytes), 'B' not here: run
 *                     a fresh JVM instead.
 *
 * Kafka's tools leave through org.apache.kafka.common.utils(.internals).Exit, whose exit,
 * halt and shutdown-hook procedures are replaced here so that they end the call, not the JVM.
 * Standard library only (Kafka's classes are reached by reflection, so one build of this file
 * serves every Kafka version); compiled by kafkalab with the Eclipse compiler, which runs on a
 * JRE.
 */
package kafkalab;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;

public final class ToolServer {
    /** The call a thread works for: set in the call's threads, inherited by the threads they start. */
    static final InheritableThreadLocal<Call> CURRENT = new InheritableThreadLocal<>();

    /**
     * Tools whose main class keeps state in static fields (the console consumers count messages
     * and wait on a latch there): one call at a time; a second one at once runs in a fresh JVM.
     */
    static final Set<String> EXCLUSIVE = Set.of(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "org.apache.kafka.tools.consumer.ConsoleShareConsumer");
    static final Set<String> BUSY = ConcurrentHashMap.newKeySet();

    /** The locale variables that decide a JVM's encodings: a call with others runs fresh. */
    static final String[] LOCALE = {"LC_ALL", "LC_CTYPE", "LANG"};

    /** How long a signalled call waits for its main thread after its hooks ran. */
    static final long CLEANUP_MILLIS = 10_000;
    /** How long a call's exit waits for one of its shutdown hooks (a JVM would wait forever). */
    static final long HOOK_MILLIS = 60_000;

    static Set<String> allowed;
    /** This server's own standard output: its log file, never a call's. */
    static PrintStream log;

    public static void main(String[] args) throws Exception {
        Channel inherited = System.inheritedChannel();
        if (!(inherited instanceof ServerSocketChannel listener)) {
            System.err.println("kafkalab.ToolServer: standard input must be a listening socket");
            System.exit(2);
            return;
        }
        allowed = new HashSet<>(Arrays.asList(args));
        String encoding = System.getProperty("stdout.encoding", System.getProperty("native.encoding"));
        Charset charset;
        try {
            charset = Charset.forName(encoding);
        } catch (RuntimeException unknown) {
            charset = Charset.defaultCharset();
        }
        log = System.out;
        System.setOut(new RoutedPrintStream(System.out, true, charset));
        System.setErr(new RoutedPrintStream(System.err, false, charset));
        System.setIn(new RoutedInputStream());
        replaceExitProcedures();
        log("ready for " + allowed.size() + " tools");
        while (true) {
            SocketChannel connection = listener.accept();
            Thread serving = new Thread(() -> serve(connection), "kafkalab-call");
            serving.setDaemon(true);
            serving.start();
        }
    }

    static void log(String message) {
        synchronized (log) {
            log.println(java.time.LocalTime.now() + " " + message);
            log.flush();
        }
    }

    // --- Kafka's Exit ------------------------------------------------------------------------

    static void replaceExitProcedures() throws ReflectiveOperationException {
        Class<?> exit;
        try {
            exit = Class.forName("org.apache.kafka.common.utils.internals.Exit");
        } catch (ClassNotFoundException before42) {
            exit = Class.forName("org.apache.kafka.common.utils.Exit");
        }
        ClassLoader loader = exit.getClassLoader();
        Class<?> procedure = Class.forName(exit.getName() + "$Procedure", false, loader);
        Class<?> hookAdder = Class.forName(exit.getName() + "$ShutdownHookAdder", false, loader);
        Object ending = Proxy.newProxyInstance(loader, new Class<?>[] {procedure}, (proxy, method, a) -> {
            if (method.getName().equals("execute")) {
                exitCall((Integer) a[0]);
            }
            return objectMethod(proxy, method, a);
        });
        Object adder = Proxy.newProxyInstance(loader, new Class<?>[] {hookAdder}, (proxy, method, a) -> {
            if (method.getName().equals("addShutdownHook")) {
                addHook((String) a[0], (Runnable) a[1]);
                return null;
            }
            return objectMethod(proxy, method, a);
        });
        exit.getMethod("setExitProcedure", procedure).invoke(null, ending);
        exit.getMethod("setHaltProcedure", procedure).invoke(null, ending);
        exit.getMethod("setShutdownHookAdder", hookAdder).invoke(null, adder);
    }

    static Object objectMethod(Object proxy, Method method, Object[] a) {
        switch (method.getName()) {
            case "hashCode":
                return System.identityHashCode(proxy);
            case "equals":
                return proxy == a[0];
            case "toString":
                return "kafkalab.ToolServer procedure";
            default:
                return null;
        }
    }

    /** Thrown where a tool calls Exit.exit: unwinds the call's thread instead of ending the JVM. */
    static final class CallExit extends Error {
        CallExit() {
            super(null, null, false, false);
        }
    }

    static void exitCall(int code) {
        Call call = CURRENT.get();
        if (call == null) {
            // Not a tool's thread: nothing to end, and the JVM must not go.
            throw new CallExit();
        }
        // As System.exit does: the shutdown hooks first (the console producer's sends what
        // it still holds), then the exit code.
        call.runHooks();
        call.finish(code);
        throw new CallExit();
    }

    static void addHook(String name, Runnable hook) {
        Call call = CURRENT.get();
        if (call == null) {
            Runtime.getRuntime().addShutdownHook(new Thread(hook, name));
        } else {
            call.addHook(name, hook);
        }
    }

    // --- one call ----------------------------------------------------------------------------

    static void serve(SocketChannel connection) {
        Call call = new Call(connection);
        try {
            Frame header = call.readFrame();
            if (header == null || header.type != 'H') {
                connection.close();
                return;
            }
            List<String> fields = decode(header.payload);
            String mainClass = fields.get(0);
            int count = Integer.parseInt(fields.get(1));
            String[] arguments = fields.subList(2, 2 + count).toArray(new String[0]);
            List<String> locale = fields.subList(2 + count, fields.size());
            if (!runsHere(mainClass, locale)) {
                log("fresh JVM for " + mainClass);
                call.send('B', new byte[0], 0, 0);
                connection.close();
                return;
            }
            log("call " + mainClass);
            call.send('A', new byte[0], 0, 0);
            CURRENT.set(call);
            Thread main = new Thread(() -> call.runMain(mainClass, arguments), "main");
            call.main = main;
            main.start();
            call.pump();
        } catch (IOException | RuntimeException error) {
            call.hangUp();
        } finally {
            CURRENT.remove();
        }
    }

    static boolean runsHere(String mainClass, List<String> locale) {
        if (!allowed.contains(mainClass)) {
            return false;
        }
        for (int i = 0; i < LOCALE.length; i++) {
            String mine = Objects.requireNonNullElse(System.getenv(LOCALE[i]), "");
            if (i >= locale.size() || !mine.equals(locale.get(i))) {
                return false;
            }
        }
        return !EXCLUSIVE.contains(mainClass) || BUSY.add(mainClass);
    }

    static List<String> decode(byte[] payload) {
        List<String> fields = new ArrayList<>();
        ByteBuffer buffer = ByteBuffer.wrap(payload);
        while (buffer.remaining() >= 4) {
            byte[] text = new byte[buffer.getInt()];
            buffer.get(text);
            fields.add(new String(text, StandardCharsets.UTF_8));
        }
        return fields;
    }

    record Frame(byte type, byte[] payload) {}

    static final class Call {
        final SocketChannel connection;
        final CallInput input = new CallInput(this);
        final List<Thread> hooks = new ArrayList<>();
        final Object sending = new Object();
        final LaunchFrameFilter stdout = new LaunchFrameFilter(this, 'O');
        final LaunchFrameFilter stderr = new LaunchFrameFilter(this, 'R');
        volatile Thread main;
        volatile boolean finished;
        volatile boolean outputBroken;
        volatile int signal;
        volatile boolean inputWanted;
        boolean hooksRan;

        Call(SocketChannel connection) {
            this.connection = connection;
        }

        void runMain(String mainClass, String[] arguments) {
            try {
                Class<?> tool = Class.forName(mainClass, true, ClassLoader.getSystemClassLoader());
                Method entry = tool.getMethod("main", String[].class);
                entry.invoke(null, (Object) arguments);
                System.out.flush();
                System.err.flush();
                runHooks(); // a JVM whose main returns runs its hooks as it ends
                finish(0);
            } catch (InvocationTargetException thrown) {
                Throwable cause = thrown.getCause();
                if (!(cause instanceof CallExit)) {
                    uncaught(cause);
                }
            } catch (CallExit exit) {
                // Exit.exit from a static initializer: already finished.
            } catch (Throwable error) {
                uncaught(error);
            } finally {
                BUSY.remove(mainClass);
            }
        }

        /** What a JVM does when main throws: the stack trace on standard error, exit code 1. */
        void uncaught(Throwable error) {
            System.out.flush();
            System.err.print("Exception in thread \"main\" ");
            error.printStackTrace(System.err);
            System.err.flush();
            runHooks();
            finish(1);
        }

        synchronized void addHook(String name, Runnable hook) {
            Thread thread = new Thread(hook, name);
            hooks.add(thread);
        }

        /**
         * Runs the call's shutdown hooks, each in its own thread and all at once, as a JVM does
         * when it ends; once per call (later callers return at once). Returns how many ran.
         */
        int runHooks() {
            List<Thread> started;
            synchronized (this) {
                if (hooksRan) {
                    return 0;
                }
                hooksRan = true;
                started = new ArrayList<>(hooks);
            }
            started.forEach(Thread::start);
            for (Thread hook : started) {
                joinQuietly(hook, HOOK_MILLIS);
            }
            return started.size();
        }

        /** SIGINT or SIGTERM: the call's shutdown hooks run, then the call ends as a JVM would. */
        void signalled(int number) {
            synchronized (this) {
                if (finished || signal != 0) {
                    return;
                }
                signal = number;
            }
            Thread ending = new Thread(() -> {
                if (runHooks() > 0) {
                    // A hook that waits for the main thread's cleanup may find its latch already
                    // opened by an earlier call: wait for the cleanup here too.
                    joinQuietly(main, CLEANUP_MILLIS);
                }
                System.out.flush();
                System.err.flush();
                endCall(128 + number);
            }, "kafkalab-signal-" + number);
            ending.start();
        }

        void finish(int code) {
            if (signal != 0) {
                return; // a signalled call ends with 128 + the signal, once its hooks ran
            }
            endCall(code);
        }

        void endCall(int code) {
            stdout.end();
            stderr.end();
            synchronized (this) {
                if (finished) {
                    return;
                }
                byte[] payload = ByteBuffer.allocate(4).putInt(code).array();
                send('X', payload, 0, 4);
                finished = true;
            }
            input.close();
            closeQuietly();
            Thread thread = main;
            if (thread != null && thread != Thread.currentThread() && thread.isAlive()) {
                thread.interrupt();
            }
        }

        /** The client went away (killed, or its connection broke): end the call as SIGTERM would. */
        void hangUp() {
            outputBroken = true;
            signalled(15);
        }

        void pump() throws IOException {
            while (true) {
                Frame frame = readFrame();
                if (frame == null) {
                    if (!finished) {
                        hangUp();
                    }
                    return;
                }
                switch (frame.type) {
                    case 'I' -> input.offer(frame.payload);
                    case 'E' -> input.close();
                    case 'S' -> signalled(ByteBuffer.wrap(frame.payload).getInt());
                    case 'P' -> outputBroken = true;
                    default -> { }
                }
            }
        }

        Frame readFrame() throws IOException {
            ByteBuffer head = ByteBuffer.allocate(5);
            if (!readFully(head)) {
                return null;
            }
            head.flip();
            byte type = head.get();
            ByteBuffer payload = ByteBuffer.allocate(head.getInt());
            if (!readFully(payload)) {
                return null;
            }
            return new Frame(type, payload.array());
        }

        boolean readFully(ByteBuffer buffer) throws IOException {
            while (buffer.hasRemaining()) {
                if (connection.read(buffer) < 0) {
                    return false;
                }
            }
            return true;
        }

        void send(char type, byte[] bytes, int offset, int length) {
            synchronized (sending) {
                if (finished || !connection.isOpen()) {
                    return; // after exit, a JVM prints nothing more
                }
                ByteBuffer head = ByteBuffer.allocate(5).put((byte) type).putInt(length);
                head.flip();
                ByteBuffer body = ByteBuffer.wrap(bytes, offset, length);
                try {
                    while (head.hasRemaining() || body.hasRemaining()) {
                        connection.write(new ByteBuffer[] {head, body});
                    }
                } catch (IOException gone) {
                    outputBroken = true;
                }
            }
        }

        void wantInput() {
            if (!inputWanted) {
                inputWanted = true;
                send('N', new byte[0], 0, 0);
            }
        }

        void closeQuietly() {
            synchronized (sending) {
                try {
                    connection.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }
    }

    static void joinQuietly(Thread thread, long millis) {
        if (thread == null) {
            return;
        }
        try {
            thread.join(millis);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    // --- standard streams, per call ---------------------------------------------------------

    /** System.out and System.err: each write goes to the client of the writing thread's call. */
    static final class RoutedPrintStream extends PrintStream {
        final boolean standardOutput;

        RoutedPrintStream(PrintStream fallback, boolean standardOutput, Charset charset) {
            super(new Router(fallback, standardOutput), true, charset);
            this.standardOutput = standardOutput;
        }

        @Override
        public boolean checkError() {
            Call call = CURRENT.get();
            if (call == null) {
                return super.checkError();
            }
            flush();
            return standardOutput && call.outputBroken;
        }
    }

    static final class Router extends OutputStream {
        final PrintStream fallback;
        final char type;

        Router(PrintStream fallback, boolean standardOutput) {
            this.fallback = fallback;
            this.type = standardOutput ? 'O' : 'R';
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] bytes, int offset, int length) {
            Call call = CURRENT.get();
            if (call == null) {
                fallback.write(bytes, offset, length);
            } else if (length > 0) {
                (type == 'O' ? call.stdout : call.stderr).write(bytes, offset, length);
            }
        }

        @Override
        public void flush() {
            if (CURRENT.get() == null) {
                fallback.flush();
            }
        }
    }

    /**
     * Takes this server's own frames out of the stack traces a call prints, so that they read as
     * a fresh JVM's: there the tool's main method is the main thread's first frame. Below it
     * here come reflection, this class and Thread.run; and a cause's "... N more" counts them
     * too. Lines pass through at once, except a stack frame line, held until it is complete.
     */
    static final class LaunchFrameFilter {
        static final String REFLECTION = "java.base/jdk.internal.reflect.";
        static final String INVOKE = "java.base/java.lang.reflect.Method.invoke(";
        static final String SERVER = "kafkalab.ToolServer";
        static final String THREAD_RUN = "java.base/java.lang.Thread.run";
        final Call call;
        final char type;
        final java.io.ByteArrayOutputStream partial = new java.io.ByteArrayOutputStream();
        final List<byte[]> held = new ArrayList<>();
        int dropped;
        boolean afterServer;
        /** The start of the current line, where it was already sent (not a frame line). */
        String emittedHead;

        LaunchFrameFilter(Call call, char type) {
            this.call = call;
            this.type = type;
        }

        synchronized void write(byte[] bytes, int offset, int length) {
            int start = offset;
            int end = offset + length;
            for (int i = offset; i < end; i++) {
                if (bytes[i] == '\n') {
                    partial.write(bytes, start, i + 1 - start);
                    line(partial.toByteArray());
                    partial.reset();
                    start = i + 1;
                }
            }
            partial.write(bytes, start, end - start);
            if (partial.size() > 0 && !couldBeFrame(partial.toByteArray())) {
                // Not a frame: out at once (a prompt waits for no newline). The rest of its
                // line comes later, often as a lone newline (println of a PrintStream subclass
                // writes the text and the newline apart): remember how the line began.
                byte[] text = partial.toByteArray();
                partial.reset();
                if (emittedHead == null) {
                    emittedHead = new String(text, 0, Math.min(text.length, 64), StandardCharsets.ISO_8859_1);
                    emitHeld();
                }
                emit(text);
            }
        }

        synchronized void end() {
            emittedHead = null;
            emitHeld();
            if (partial.size() > 0) {
                emit(partial.toByteArray());
                partial.reset();
            }
        }

        static boolean couldBeFrame(byte[] text) {
            String start = new String(text, 0, Math.min(text.length, 64), StandardCharsets.ISO_8859_1);
            String stripped = start.replaceFirst("^\t+", "");
            return start.startsWith("\t") && ("at ".startsWith(stripped) || "...".startsWith(stripped)
                    || stripped.startsWith("at ") || stripped.startsWith("..."));
        }

        void line(byte[] text) {
            String head = emittedHead;
            emittedHead = null;
            String line = (head == null ? "" : head) + new String(text, StandardCharsets.ISO_8859_1);
            String stripped = line.replaceFirst("^\t+", "");
            if (head != null || !line.startsWith("\t")
                    || !(stripped.startsWith("at ") || stripped.startsWith("... "))) {
                if (!line.startsWith("Caused by: ") && !line.startsWith("\t")) {
                    dropped = 0; // a new stack trace, or none
                }
                afterServer = false;
                emitHeld();
                emit(text);
                return;
            }
            if (stripped.startsWith("... ")) {
                emitHeld();
                afterServer = false;
                java.util.regex.Matcher more = java.util.regex.Pattern
                        .compile("^(\t+)\\.\\.\\. (\\d+) more(\r?\n)$").matcher(line);
                if (dropped > 0 && more.matches()) {
                    int left = Integer.parseInt(more.group(2)) - dropped;
                    if (left > 0) {
                        emit((more.group(1) + "... " + left + " more" + more.group(3))
                                .getBytes(StandardCharsets.ISO_8859_1));
                    }
                    return;
                }
                emit(text);
                return;
            }
            String frame = stripped.substring(3);
            if (frame.startsWith(SERVER)) {
                dropped += held.size() + 1;
                held.clear();
                afterServer = true;
            } else if (afterServer && frame.startsWith(THREAD_RUN)) {
                dropped++;
            } else if (frame.startsWith(REFLECTION) || frame.startsWith(INVOKE)) {
                held.add(text); // ours only if a frame of this server follows
            } else {
                afterServer = false;
                emitHeld();
                emit(text);
            }
        }

        void emitHeld() {
            for (byte[] text : held) {
                emit(text);
            }
            held.clear();
        }

        void emit(byte[] text) {
            call.send(type, text, 0, text.length);
        }
    }

    /** System.in: the standard input of the reading thread's call (empty outside a call). */
    static final class RoutedInputStream extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] bytes, int offset, int length) throws IOException {
            Call call = CURRENT.get();
            return call == null ? -1 : call.input.read(bytes, offset, length);
        }

        @Override
        public int available() {
            Call call = CURRENT.get();
            return call == null ? 0 : call.input.available();
        }
    }

    static final class CallInput {
        static final byte[] END = new byte[0];
        final Call call;
        final LinkedBlockingQueue<byte[]> chunks = new LinkedBlockingQueue<>();
        byte[] current;
        int position;
        volatile boolean ended;

        CallInput(Call call) {
            this.call = call;
        }

        void offer(byte[] chunk) {
            if (chunk.length > 0) {
                chunks.add(chunk);
            }
        }

        void close() {
            chunks.add(END);
        }

        synchronized int available() {
            return current == null ? 0 : current.length - position;
        }

        synchronized int read(byte[] bytes, int offset, int length) throws IOException {
            if (length == 0) {
                return 0;
            }
            call.wantInput();
            while (current == null || position >= current.length) {
                if (ended) {
                    return -1;
                }
                try {
                    byte[] next = chunks.take(); // close() puts END: nothing waits forever
                    if (next == END) {
                        ended = true;
                        chunks.add(END);
                        return -1;
                    }
                    current = next;
                    position = 0;
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("standard input closed");
                }
            }
            int count = Math.min(length, current.length - position);
            System.arraycopy(current, position, bytes, offset, count);
            position += count;
            return count;
        }
    }
}
